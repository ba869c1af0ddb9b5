//! `kernels envs`: environments and the kernels that use them.

use clap::Args;

use super::Ctx;
use crate::exit::{Code, Failure};

/// Arguments of `kernels envs`.
#[derive(Debug, Args)]
pub struct EnvsArgs {}

/// Runs `kernels envs`.
pub fn run(_ctx: &Ctx, _args: &EnvsArgs) -> anyhow::Result<Code> {
    Err(Failure::failed("`kernels envs` is not built yet").into())
}
