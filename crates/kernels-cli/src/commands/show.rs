//! `kernels show NAME`: one kernelspec in detail.

use clap::Args;

use super::Ctx;
use crate::exit::{Code, Failure};

/// Arguments of `kernels show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Kernel name (case-insensitive).
    pub name: String,
}

/// Runs `kernels show`.
pub fn run(_ctx: &Ctx, _args: &ShowArgs) -> anyhow::Result<Code> {
    Err(Failure::failed("`kernels show` is not built yet").into())
}
