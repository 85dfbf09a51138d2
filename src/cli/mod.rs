//! The `halite` command line (STUB while the core lands).

pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
