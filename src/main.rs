//! The `dvx` binary: everything lives in `dvx-cli`.

fn main() {
    std::process::exit(dvx_cli::main());
}
