//! `kernels add NAME`: an environment with ipykernel, registered as an activated kernel.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use envs::Language;
use kernels::{
    parse_env_assignment, BackendChoice, EnvSource, KernelRequest, KernelScope, Packages, Snapshot,
};

use super::names::parse_name;
use super::{render_plan, Ctx};
use crate::exit::{Code, Failure};

/// Arguments of `kernels add`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  kernels add newenv                          Python with ipykernel, conda when found, else venv
  kernels add newenv --python 3.11 -p pandas  a Python version and packages
  kernels add newenv --backend venv           python -m venv with uv or pip
  kernels add rkernel --language r            an R kernel (r-base, r-irkernel; needs conda)
  kernels add base --existing ~/miniconda3    register an environment that already exists
  kernels add py38 --existing azureml_py38    the same, by conda environment name
  kernels add newenv --dry-run                the commands and files, changing nothing")]
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
    #[arg(long, value_enum, default_value_t = BackendArg(BackendChoice::Auto), conflicts_with = "existing")]
    pub backend: BackendArg,
    /// Create the environment at this path instead of the backend's default location.
    #[arg(long, value_name = "PATH", conflicts_with = "existing")]
    pub prefix: Option<PathBuf>,
    /// Register an environment that already exists, by path or conda environment name (nothing is created; missing ipykernel is installed).
    #[arg(long, value_name = "PATH|NAME")]
    pub existing: Option<PathBuf>,
    /// Copy this environment (a conda env name or path, a venv path, or a kernel name); it is only read.
    #[arg(long, value_name = "ENV", conflicts_with_all = ["existing", "environment_file", "python"])]
    pub clone: Option<String>,
    /// The kernel language.
    #[arg(long, value_enum, default_value_t = LanguageArg::Python)]
    pub language: LanguageArg,
    /// An environment variable for the kernel, KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Where the kernelspec goes.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Without a uv of your own, use pip for a new venv instead of installing uv once into
    /// kernels' tool directory (also: KERNELS_NO_PROVISION_UV=1).
    #[arg(long)]
    pub no_provision_uv: bool,
    /// Print the plan (commands and files) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `--backend`: clap's view of [`BackendChoice`] (names and help come from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendArg(pub BackendChoice);

impl ValueEnum for BackendArg {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: std::sync::LazyLock<Vec<BackendArg>> =
            std::sync::LazyLock::new(|| BackendChoice::all().map(BackendArg).collect());
        &ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.0.name()).help(self.0.help()))
    }
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

/// Runs `kernels add`: request → snapshot → plan → policy → (lock) execute → render.
pub fn run(ctx: &Ctx, args: &AddArgs) -> anyhow::Result<Code> {
    let request = build_request(args)?;
    let requests = [request];
    // The lock is taken before the machine is read, so the plan cannot go stale under
    // another run. A dry run changes nothing and takes none.
    let _lock = if args.dry_run {
        None
    } else {
        Some(super::run_lock::take_lock(ctx)?)
    };
    let snapshot = Snapshot::take(&requests, ctx.host().clone(), ctx.paths().clone());
    let mut plan = kernels::plan(&requests, &snapshot).map_err(super::failures::plan_failure)?;
    let policy = plan.check_policy(&snapshot);
    if args.dry_run {
        plan.solve_previews(ctx.host())?;
        // A dry run shows the plan even when the policy would refuse it, then says so.
        return render_plan::finish_dry_run(ctx, &plan, policy);
    }
    let warnings = policy.map_err(|r| super::failures::refusal_failure(&r))?;
    render_plan::print_warnings(ctx, &warnings, &plan);
    super::prompt::confirm_foreign_replacements(ctx, &plan)?;
    let outcome = render_plan::execute_and_document(ctx, &plan, &snapshot, &warnings)?;
    render_plan::print_outcome(ctx, &plan, &outcome);
    Ok(Code::Ok)
}

/// The typed request of the command line; inconsistent options are usage errors (exit 2).
pub fn build_request(args: &AddArgs) -> Result<KernelRequest, Failure> {
    let name = parse_name(&args.name)?;
    let mut req = KernelRequest::new(name);
    req.display_name = args.display_name.clone();
    req.language = match args.language {
        LanguageArg::Python => Language::Python,
        LanguageArg::R => Language::R,
    };
    req.env = match &args.existing {
        Some(path) => EnvSource::Existing { path: path.clone() },
        None => EnvSource::New {
            backend: args.backend.0,
            prefix: args.prefix.clone(),
        },
    };
    req.packages = Packages {
        python: args.python.clone(),
        conda: args.packages.clone(),
        pip: args.pip.clone(),
        requirements: args.requirements.clone(),
        environment_file: args.environment_file.clone(),
        channels: args.channels.clone(),
    };
    req.clone = args.clone.clone();
    for text in &args.env {
        let (k, v) = parse_env_assignment(text).map_err(|e| Failure::usage(e.to_string()))?;
        req.kernel_env.insert(k, v);
    }
    req.scope = if args.scope.sys_prefix {
        KernelScope::SysPrefix
    } else if let Some(dir) = &args.scope.kernel_prefix {
        KernelScope::Prefix(dir.clone())
    } else {
        KernelScope::User
    };
    req.provision_uv = !args.no_provision_uv;
    req.validate()
        .map_err(|e| Failure::usage(e.to_string()).maybe_hint(e.hint()))?;
    Ok(req)
}
