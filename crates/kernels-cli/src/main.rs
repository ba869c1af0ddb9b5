//! The `kernels` command line.

mod cli;
mod commands;
mod exit;
mod output;

fn main() -> std::process::ExitCode {
    commands::main()
}
