//! Riskdeck's browser app (skeleton).
fn main() {}
