//! `riskdeck`: the server, the demo broker, and operator commands (see `backend::cli`).

fn main() {
    backend::cli::main();
}
