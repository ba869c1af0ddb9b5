//! `kernels list`: every kernelspec Jupyter would see.

use clap::Args;

use super::Ctx;
use crate::exit::{Code, Failure};

/// Arguments of `kernels list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Also list copies that are shadowed by a higher-priority directory.
    #[arg(long)]
    pub all: bool,
}

/// Runs `kernels list`.
pub fn run(_ctx: &Ctx, _args: &ListArgs) -> anyhow::Result<Code> {
    Err(Failure::failed("`kernels list` is not built yet").into())
}
