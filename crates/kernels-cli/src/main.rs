//! The `kernels` command line.

mod cli;
mod commands;
mod exit;
mod output;
mod progress;
mod report;
mod version;

fn main() -> std::process::ExitCode {
    commands::main()
}
