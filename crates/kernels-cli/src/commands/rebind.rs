//! `kernels rebind`: rewrite `metadata.kernelspec` in notebooks.

use std::path::PathBuf;

use clap::Args;

use super::Ctx;
use crate::exit::{Code, Failure};

/// Arguments of `kernels rebind`.
#[derive(Debug, Args)]
pub struct RebindArgs {
    /// Notebooks or directories (searched recursively for .ipynb files).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The kernel name notebooks ask for now.
    #[arg(long, value_name = "OLD")]
    pub from: String,
    /// The kernel they should ask for instead.
    #[arg(long, value_name = "NEW")]
    pub to: String,
    /// Print which notebooks would change and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `kernels rebind`.
pub fn run(_ctx: &Ctx, _args: &RebindArgs) -> anyhow::Result<Code> {
    Err(Failure::failed("`kernels rebind` is not built yet").into())
}
