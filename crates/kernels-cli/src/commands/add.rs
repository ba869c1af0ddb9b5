//! `kernels add NAME`: an environment with ipykernel, registered as an activated kernel.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::Ctx;
use crate::exit::{Code, Failure};

/// Arguments of `kernels add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Kernel name (also the environment name): ASCII letters, digits, `.`, `_`, `-`.
    pub name: String,
    /// Display name shown in Jupyter [default: "Python (NAME)" or "R (NAME)"].
    #[arg(long)]
    pub display_name: Option<String>,
    /// Python version for a new environment, e.g. 3.11.
    #[arg(long, value_name = "VER")]
    pub python: Option<String>,
    /// A conda-family package to install (repeatable); with the venv backend, a pip package.
    #[arg(short = 'p', long = "package", value_name = "PKG")]
    pub packages: Vec<String>,
    /// A package to install with pip after the environment exists (repeatable).
    #[arg(long = "pip", value_name = "PKG")]
    pub pip: Vec<String>,
    /// A pip requirements file.
    #[arg(short = 'r', long, value_name = "FILE")]
    pub requirements: Option<PathBuf>,
    /// A conda environment.yml handed to the conda-family tool.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub environment_file: Option<PathBuf>,
    /// A conda channel (repeatable).
    #[arg(short = 'c', long = "channel", value_name = "CHANNEL")]
    pub channels: Vec<String>,
    /// Which tool creates the environment.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// Create the environment at this path instead of the backend's default location.
    #[arg(long, value_name = "PATH", conflicts_with = "existing")]
    pub prefix: Option<PathBuf>,
    /// Register an environment that already exists (nothing is created; missing ipykernel is installed).
    #[arg(long, value_name = "PATH")]
    pub existing: Option<PathBuf>,
    /// The kernel language.
    #[arg(long, value_enum, default_value_t = LanguageArg::Python)]
    pub language: LanguageArg,
    /// An environment variable for the kernel, KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Where the kernelspec goes.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Print the plan (commands and files) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Which tool creates environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// conda, mamba or micromamba when one is found, else venv.
    Auto,
    /// conda.
    Conda,
    /// mamba.
    Mamba,
    /// micromamba.
    Micromamba,
    /// `python -m venv` + pip, or uv when it is on PATH.
    Venv,
}

/// A kernel language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LanguageArg {
    /// ipykernel.
    Python,
    /// IRkernel.
    R,
}

/// Where a kernelspec is installed (Jupyter's `--user`, `--sys-prefix`, `--prefix`).
#[derive(Debug, Clone, Args)]
#[group(multiple = false)]
pub struct ScopeArgs {
    /// In the user's Jupyter data dir (the default).
    #[arg(long)]
    pub user: bool,
    /// In the environment's own `share/jupyter/kernels`.
    #[arg(long)]
    pub sys_prefix: bool,
    /// In DIR/share/jupyter/kernels.
    #[arg(long, value_name = "DIR")]
    pub kernel_prefix: Option<PathBuf>,
}

/// Runs `kernels add`.
pub fn run(_ctx: &Ctx, _args: &AddArgs) -> anyhow::Result<Code> {
    Err(Failure::failed("`kernels add` is not built yet").into())
}
