mod bundle;

fn main() -> anyhow::Result<()> {
    // Temporary entry point until the lead's command set lands: `cargo xtask dist`.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or_else(|| anyhow::anyhow!("xtask lives inside the workspace"))?;
    match std::env::args().nth(1).as_deref() {
        Some("dist") => bundle::build(root).map(drop),
        _ => anyhow::bail!("usage: cargo xtask dist"),
    }
}
