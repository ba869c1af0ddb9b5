//! `kernels completions SHELL` and `kernels man`: generated from the clap definition.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Ctx;
use crate::cli::Cli;
use crate::exit::{Code, Failure};

/// Arguments of `kernels completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Arguments of `kernels man`.
#[derive(Debug, Args)]
pub struct ManArgs {}

/// Prints the completion script on stdout.
pub fn run(_ctx: &Ctx, args: &CompletionsArgs) -> anyhow::Result<Code> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "kernels", &mut std::io::stdout());
    Ok(Code::Ok)
}

/// Prints the man page on stdout.
pub fn run_man(_ctx: &Ctx, _args: &ManArgs) -> anyhow::Result<Code> {
    let man = clap_mangen::Man::new(Cli::command());
    man.render(&mut std::io::stdout())
        .map_err(|e| Failure::failed(format!("writing the man page: {e}")))?;
    Ok(Code::Ok)
}
