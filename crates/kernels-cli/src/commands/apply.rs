//! `kernels apply FILE`: converge the machine to a declarative kernels.toml.

use std::path::PathBuf;

use clap::Args;

use super::Ctx;
use crate::exit::{Code, Failure};

/// Arguments of `kernels apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The kernels.toml file.
    pub file: PathBuf,
    /// Print the plan (create / install / register / unchanged) and change nothing.
    #[arg(long, conflicts_with = "check")]
    pub dry_run: bool,
    /// Change nothing; exit 4 if anything would change.
    #[arg(long)]
    pub check: bool,
    /// Also remove kernels that `kernels` created and the file no longer lists.
    #[arg(long)]
    pub prune: bool,
    /// Run as root but install into USER's home, owned by USER.
    #[arg(long, value_name = "USER")]
    pub for_user: Option<String>,
}

/// Runs `kernels apply`.
pub fn run(_ctx: &Ctx, _args: &ApplyArgs) -> anyhow::Result<Code> {
    Err(Failure::failed("`kernels apply` is not built yet").into())
}
