//! `kernels remove NAME...`: remove the winning copy of each kernelspec.

use clap::Args;

use super::Ctx;
use crate::exit::{Code, Failure};

/// Arguments of `kernels remove`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Kernel names (case-insensitive).
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Also remove the environment behind each kernel (only environments `kernels` created,
    /// never protected ones).
    #[arg(long)]
    pub with_env: bool,
    /// Print what would be removed and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `kernels remove`.
pub fn run(_ctx: &Ctx, _args: &RemoveArgs) -> anyhow::Result<Code> {
    Err(Failure::failed("`kernels remove` is not built yet").into())
}
