//! `kernels install NAME PKG...`: packages into the environment behind a kernel, the safe
//! equivalent of `%pip install` / `%conda install` run in the right environment.
//!
//! The environment is the one the kernel records (`metadata.kernels.env`), else the one its
//! argv runs (wrappers such as `conda run -p` are seen through; `argv[0]`'s prefix
//! otherwise). Into a conda environment packages go with its conda-family tool (ONE call),
//! with `--pip` with the environment's own pip, and into a venv with the tool `add` would use
//! (the user's uv, kernels' own uv, else pip; ONE call). Packages that
//! are installed already are skipped by name; those given with a version constraint are
//! always handed to the installer. Refused (exit 3) for frozen environments (CEP 22
//! `conda-meta/frozen`) and operating-system Pythons (PEP 668); allowed for protected ones.
//!
//! When `kernels` made the kernel, its kernel.json is brought up to date afterwards (a
//! package may add activation scripts); a kernel it did not make, or a protected one, is left
//! exactly as it is.

use std::path::{Path, PathBuf};

use clap::Args;
use envs::Language;
use kernels::{
    env_of_spec, EnvSource, InstallMode, KernelRequest, KernelScope, ManagedMeta, Origin, Packages,
    Snapshot, SpecEnv,
};
use kernelspec::{FoundKernel, KernelName, KernelSpec};

use super::names::{parse_name, unknown_kernel};
use super::{render_plan, Ctx};
use crate::exit::{Code, Failure};

/// Arguments of `kernels install`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  kernels install newenv pandas 'numpy<2'   with the tool that made the environment
  kernels install newenv --pip requests     with the conda env's own pip
  kernels install newenv pandas --dry-run   the exact command, changing nothing")]
pub struct InstallArgs {
    /// Kernel name (case-insensitive).
    pub name: String,
    /// Packages to install.
    #[arg(required = true)]
    pub packages: Vec<String>,
    /// Install with pip even into a conda environment (with the environment's own pip).
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
pub fn run(ctx: &Ctx, args: &InstallArgs) -> anyhow::Result<Code> {
    let name = parse_name(&args.name)?;
    let _lock = if args.dry_run {
        None
    } else {
        Some(super::run_lock::take_lock(ctx)?)
    };
    let discovery = kernelspec::discover(ctx.paths());
    let kernel = discovery
        .get(name.as_str())
        .ok_or_else(|| unknown_kernel(name.as_str(), &discovery))?;
    let spec = super::run::readable_spec(kernel)?;
    let prefix = kernel_prefix(ctx, kernel, spec)?;
    let request = install_request(name, kernel, spec, &prefix, args)?;

    let mut requests = [request];
    let snapshot = Snapshot::take(&requests, ctx.host().clone(), ctx.paths().clone());
    // A protected kernel's kernel.json is never rewritten; packages may still go in.
    if snapshot.policy.kernel_protection_of(kernel).is_some() {
        requests[0].register = false;
    }
    let plan = kernels::plan(&requests, &snapshot).map_err(super::failures::plan_failure)?;
    let policy = plan.check_policy(&snapshot);
    if args.dry_run {
        // A dry run shows the plan even when the policy would refuse it, then says so.
        return render_plan::finish_dry_run(ctx, &plan, policy);
    }
    let warnings = policy.map_err(|r| super::failures::refusal_failure(&r))?;
    let outcome = render_plan::execute_and_document(ctx, &plan, &snapshot, &warnings)?;
    report(ctx, args, &prefix, kernel, &plan, &outcome);
    Ok(Code::Ok)
}

/// The prefix of the environment `kernel` runs in: the one its spec records or runs, or a
/// conda environment it names; a failure with a hint when that cannot be told or found.
fn kernel_prefix(ctx: &Ctx, kernel: &FoundKernel, spec: &KernelSpec) -> Result<PathBuf, Failure> {
    match env_of_spec(spec) {
        Some(SpecEnv::Prefix(p)) => Ok(p),
        Some(SpecEnv::Name(env_name)) => env_by_name(ctx, &env_name).ok_or_else(|| {
            Failure::failed(format!(
                "kernel `{}` runs in the conda environment `{env_name}`, which was not found",
                kernel.name
            ))
            .hint("`kernels envs` lists the environments this machine has")
        }),
        None => Err(Failure::failed(format!(
            "cannot tell which environment kernel `{}` runs in (its argv starts with `{}`)",
            kernel.name,
            spec.argv.first().map(String::as_str).unwrap_or("")
        ))
        .hint("register the environment with `kernels add NAME --existing PREFIX`, then install into that kernel")),
    }
}

/// The request that installs `args.packages` into the existing environment at `prefix`
/// (conda packages into a conda environment unless `--pip`, else pip packages) and, when
/// `kernels` made the kernel, brings its kernel.json up to date in its own kernels dir.
fn install_request(
    name: KernelName,
    kernel: &FoundKernel,
    spec: &KernelSpec,
    prefix: &Path,
    args: &InstallArgs,
) -> Result<KernelRequest, Failure> {
    let meta = ManagedMeta::from_spec(spec);
    let conda_env = prefix.join("conda-meta/history").is_file();
    let language = if spec.language.eq_ignore_ascii_case("r") {
        Language::R
    } else {
        Language::Python
    };
    let mut packages = Packages {
        channels: args.channels.clone(),
        ..Packages::default()
    };
    if conda_env && !args.pip {
        packages.conda = args.packages.clone();
    } else {
        packages.pip = args.packages.clone();
    }
    let mut request = KernelRequest::new(name);
    request.display_name = Some(spec.display_name.clone());
    request.language = language;
    request.env = EnvSource::Existing {
        path: prefix.to_path_buf(),
    };
    request.packages = packages;
    request.install_mode = InstallMode::Requested;
    request.kernel_env = match &meta {
        Some(m) => m.user_env(spec),
        None => spec.env.clone(),
    };
    request.scope = KernelScope::KernelsDir(
        kernel
            .resource_dir
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default(),
    );
    request.register =
        meta.is_some() && (language == Language::R || spec.language.eq_ignore_ascii_case("python"));
    request.origin = match meta.as_ref().map(|m| m.source.as_str()) {
        Some("apply") => Origin::Apply,
        _ => Origin::Add,
    };
    request
        .validate()
        .map_err(|e| Failure::usage(e.to_string()).maybe_hint(e.hint()))?;
    Ok(request)
}

/// The closing lines: what was installed (or that nothing was needed) and whether the
/// kernel's kernel.json was brought up to date.
fn report(
    ctx: &Ctx,
    args: &InstallArgs,
    prefix: &Path,
    kernel: &FoundKernel,
    plan: &kernels::Plan,
    outcome: &kernels::Outcome,
) {
    let installed = plan.kernels[0]
        .steps
        .iter()
        .any(|s| matches!(s, kernels::Step::InstallPackages(_)));
    if !installed {
        ctx.out.status(&format!(
            "Nothing to install: {} already in {}",
            args.packages.join(" "),
            ctx.show_path(prefix)
        ));
    } else {
        ctx.out.status(&format!(
            "Installed {} into {} (kernel `{}`)",
            args.packages.join(" "),
            ctx.show_path(prefix),
            kernel.name
        ));
    }
    if outcome.kernels[0].kernel_json.is_some() {
        ctx.out.status(&format!(
            "Updated kernel `{}` to match its environment",
            kernel.name
        ));
    }
}

/// The prefix of the conda environment called `name`, among those this machine lists.
/// The prefix of the conda environment called `name`, when one is listed.
pub fn env_by_name(ctx: &Ctx, name: &str) -> Option<PathBuf> {
    let tools = envs::locate(ctx.host(), envs::BackendChoice::Auto);
    envs::list_envs(&tools, ctx.host(), &[])
        .into_iter()
        .find(|e| e.name.as_deref() == Some(name))
        .map(|e| e.prefix.into_path_buf())
}
