// Embedded migrations do not trigger a rebuild by themselves.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
