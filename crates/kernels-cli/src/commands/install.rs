//! `kernels install NAME PKG...`: packages into the environment behind a kernel.

use clap::Args;

use super::Ctx;
use crate::exit::{Code, Failure};

/// Arguments of `kernels install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Kernel name (case-insensitive).
    pub name: String,
    /// Packages to install.
    #[arg(required = true)]
    pub packages: Vec<String>,
    /// Install with pip (uv when available) even into a conda environment.
    #[arg(long)]
    pub pip: bool,
    /// A conda channel (repeatable).
    #[arg(short = 'c', long = "channel", value_name = "CHANNEL")]
    pub channels: Vec<String>,
    /// Print the commands and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `kernels install`.
pub fn run(_ctx: &Ctx, _args: &InstallArgs) -> anyhow::Result<Code> {
    Err(Failure::failed("`kernels install` is not built yet").into())
}
