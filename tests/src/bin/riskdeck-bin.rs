//! The `riskdeck` command line, built inside the `tests` package so its integration tests can run
//! the real binary (`env!("CARGO_BIN_EXE_riskdeck-bin")`): crash, CLI and scale-out tests.

fn main() {
    backend::cli::main();
}
