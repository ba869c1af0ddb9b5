//! `kernels prune`: drop kernels whose interpreter or environment is gone.

use clap::Args;

use super::Ctx;
use crate::exit::{Code, Failure};

/// Arguments of `kernels prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Print what would be removed and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `kernels prune`.
pub fn run(_ctx: &Ctx, _args: &PruneArgs) -> anyhow::Result<Code> {
    Err(Failure::failed("`kernels prune` is not built yet").into())
}
