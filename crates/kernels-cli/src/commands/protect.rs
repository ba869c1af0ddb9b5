//! `kernels protect`: add entries to the user protection policy.

use clap::Args;

use super::Ctx;
use crate::exit::{Code, Failure};

/// Arguments of `kernels protect`.
#[derive(Debug, Args)]
pub struct ProtectArgs {
    /// Kernel or environment names (or environment paths) to protect.
    #[arg(required_unless_present = "snapshot")]
    pub names: Vec<String>,
    /// Protect every kernel and environment present right now (the last step of an image build).
    #[arg(long)]
    pub snapshot: bool,
    /// Write to the system policy file instead of the user's (needs administrator rights).
    #[arg(long)]
    pub system: bool,
    /// Print what would be recorded and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `kernels protect`.
pub fn run(_ctx: &Ctx, _args: &ProtectArgs) -> anyhow::Result<Code> {
    Err(Failure::failed("`kernels protect` is not built yet").into())
}
