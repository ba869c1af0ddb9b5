//! `kernels policy`: the effective protection policy and where each entry comes from.

use clap::Args;

use super::Ctx;
use crate::exit::{Code, Failure};

/// Arguments of `kernels policy`.
#[derive(Debug, Args)]
pub struct PolicyArgs {}

/// Runs `kernels policy`.
pub fn run(_ctx: &Ctx, _args: &PolicyArgs) -> anyhow::Result<Code> {
    Err(Failure::failed("`kernels policy` is not built yet").into())
}
