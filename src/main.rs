//! The `halite` binary: a thin shell around [`halite::cli::main`].

fn main() -> std::process::ExitCode {
    halite::cli::main()
}
