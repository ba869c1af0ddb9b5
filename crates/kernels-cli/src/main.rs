//! The `kernels` command line.

mod cli;
mod commands;
mod exit;
mod output;
mod progress;
mod report;

fn main() -> std::process::ExitCode {
    commands::main()
}
