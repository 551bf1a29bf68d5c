//! TEMPORARY stub; the real bundle builder arrives with the frontend branch.
use std::path::{Path, PathBuf};

pub fn build(root: &Path) -> anyhow::Result<PathBuf> {
    Ok(root.join("target/dist"))
}
