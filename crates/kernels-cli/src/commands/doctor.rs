//! `kernels doctor`: static checks, and with `--boot` a real start of each kernel.

use clap::Args;

use super::Ctx;
use crate::exit::{Code, Failure};

/// Arguments of `kernels doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Kernels to check [default: all].
    pub names: Vec<String>,
    /// Start each kernel (concurrently) and ask it for kernel_info over the Jupyter protocol.
    #[arg(long)]
    pub boot: bool,
    /// Seconds to wait for each kernel's first reply with `--boot`.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
}

/// Runs `kernels doctor`.
pub fn run(_ctx: &Ctx, _args: &DoctorArgs) -> anyhow::Result<Code> {
    Err(Failure::failed("`kernels doctor` is not built yet").into())
}
