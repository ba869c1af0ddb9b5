//! The planner: requests + snapshot → [`Plan`].
//!
//! [`plan`] decides, for every [`KernelRequest`], what has to happen and nothing else: it
//! runs nothing and writes nothing. It reads the [`Snapshot`], plus a few files the snapshot
//! does not hold: the request's own input files (a requirements file), the resources an
//! environment's kernel package ships (logos, copied beside kernel.json) and the canonical
//! paths of a `--clone` source and target. [`Plan::check_policy`] reads the environments it
//! would change once more (their frozen markers). A plan lists per kernel a status
//! ([`KernelStatus::Create`], [`KernelStatus::Update`] or [`KernelStatus::Unchanged`]) and
//! the steps, each with the exact commands and files, which is what `--dry-run` prints and
//! what [`crate::execute()`] runs.
//!
//! Rules:
//! * A new environment is created (one [`Step::CreateEnv`]: for the conda family ONE `create`
//!   with python, pip, ipykernel and every requested conda package, then one pip call for
//!   pip packages) only when nothing, or an empty directory, is at its prefix. An environment
//!   already there is registered and only what is missing is installed (one
//!   [`Step::InstallPackages`]: at most one conda call and one pip call). A prefix holding
//!   something that is not an environment is refused.
//! * "Missing" is decided by name from what is installed (`conda-meta/`, `*.dist-info`); with
//!   [`InstallMode::Requested`] packages given with a version constraint are always handed
//!   to the installer.
//! * The kernelspec is compared with the one already in the target kernels directory; when
//!   nothing needs installing and it is identical (same kernel.json content, all resources
//!   present), the kernel is [`KernelStatus::Unchanged`] and has no steps at all.
//! * [`Plan::check_policy`] asks the protection policy about every kernel to be written and
//!   every existing environment to be changed; it is a separate call so `--dry-run` can show
//!   a plan that would be refused.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use envs::{
    BackendChoice, BackendKind, CondaDriver, CreateEnv, EnvKind, Environment, HostEnv, Language,
    PackageSet, PipInstall, Prefix, ToolCommand, VenvDriver,
};
use kernelspec::KernelName;
use serde::Serialize;

use crate::clone::CloneSource;
use crate::policy::{Refusal, RegisterWarning};
use crate::request::{EnvSource, InstallMode, KernelRequest, RequestError};
use crate::snapshot::{
    CreateWith, EnvFacts, InstalledPackage, PrefixState, RFacts, Snapshot, TargetFacts,
};
use crate::spec_for_env::{
    default_display_name, spec_for_env, BackendLabel, DesiredKernel, SpecForEnvError, SpecRequest,
};

/// What will happen, per kernel.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// One entry per request, in request order.
    pub kernels: Vec<KernelPlan>,
}

/// What happens to one kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelStatus {
    /// The kernelspec does not exist yet.
    Create,
    /// The kernelspec exists; packages are installed and/or it is rewritten.
    Update,
    /// Everything is in place; nothing runs.
    Unchanged,
}

impl fmt::Display for KernelStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KernelStatus::Create => "create",
            KernelStatus::Update => "update",
            KernelStatus::Unchanged => "unchanged",
        })
    }
}

/// The plan for one kernel.
#[derive(Debug, Clone, Serialize)]
pub struct KernelPlan {
    /// The kernel name.
    pub name: KernelName,
    /// Its display name.
    pub display_name: String,
    /// Its language.
    pub language: Language,
    /// What happens to it.
    pub status: KernelStatus,
    /// The environment behind it.
    pub env: EnvPlan,
    /// The kernelspec directory (`<kernels dir>/<name>`).
    pub kernel_dir: PathBuf,
    /// The kernelspec already at `kernel_dir`, when there is one.
    pub replaces: Option<Replaced>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Things worth knowing that change nothing (e.g. a Python version request an existing
    /// environment does not match).
    pub notes: Vec<String>,
    /// What the kernelspec is computed from (after the environment steps ran).
    #[serde(skip)]
    pub(crate) spec_request: Option<SpecRequest>,
}

impl KernelPlan {
    /// The steps that change an environment (everything before the kernel write).
    pub fn env_steps(&self) -> impl Iterator<Item = &Step> {
        self.steps
            .iter()
            .filter(|s| !matches!(s, Step::WriteKernel(_)))
    }

    /// The kernelspec write, if any.
    pub fn write_step(&self) -> Option<&WriteKernelStep> {
        self.steps.iter().find_map(|s| match s {
            Step::WriteKernel(w) => Some(w),
            _ => None,
        })
    }
}

/// The environment behind a kernel.
#[derive(Debug, Clone, Serialize)]
pub struct EnvPlan {
    /// Its absolute prefix.
    pub prefix: Prefix,
    /// Whether it exists before the plan runs.
    pub exists: bool,
    /// How it was (or will be) made, as recorded in the kernelspec.
    pub backend: BackendLabel,
    /// Whether `kernels` created it (in this plan or an earlier run).
    pub env_created: bool,
}

/// A kernelspec the plan overwrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Replaced {
    /// Whether `kernels` made it (`metadata.kernels.managed`).
    pub managed: bool,
    /// Whether its kernel.json loads.
    pub loads: bool,
}

/// One step.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Create an environment.
    CreateEnv(CreateEnvStep),
    /// Install packages into an environment.
    InstallPackages(InstallStep),
    /// Write the kernelspec (always last).
    WriteKernel(WriteKernelStep),
}

impl Step {
    /// `create_env`, `install_packages` or `write_kernel`.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::CreateEnv(_) => "create_env",
            Step::InstallPackages(_) => "install_packages",
            Step::WriteKernel(_) => "write_kernel",
        }
    }
}

/// A command line, as run (argv) and as shown (shell-quoted; never run through a shell).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandView {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// The same, shell-quoted for display.
    pub display: String,
}

impl CommandView {
    /// The view of a tool command.
    pub fn of(cmd: &ToolCommand) -> CommandView {
        let mut argv = vec![cmd.program().display().to_string()];
        argv.extend(cmd.args_lossy());
        CommandView {
            argv,
            display: cmd.display(),
        }
    }
}

/// Create an environment.
#[derive(Debug, Clone, Serialize)]
pub struct CreateEnvStep {
    /// Its prefix.
    pub prefix: Prefix,
    /// The backend.
    pub backend: BackendKind,
    /// Whether uv is used (venv backend).
    pub uv: bool,
    /// The commands, in order.
    pub commands: Vec<CommandView>,
    /// The packages an in-process solve would link (`name=version=build`; rattler only),
    /// filled in for `--dry-run` by [`Plan::solve_previews`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub solved: Vec<String>,
    /// The create request for the backend (boxed: it is most of the step's size).
    #[serde(skip)]
    pub(crate) create: Box<CreateEnv>,
    /// The tools the backend is built from.
    #[serde(skip)]
    pub(crate) tools: envs::Tools,
    /// A half-made environment of this user's is there ([`crate::guard`]): it is deleted
    /// first, then made again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rebuilds: bool,
}

impl CreateEnvStep {
    /// The tools the environment is created with (to say which was picked, and why).
    pub fn tools(&self) -> &envs::Tools {
        &self.tools
    }
}

/// Install packages into an environment.
#[derive(Debug, Clone, Serialize)]
pub struct InstallStep {
    /// The environment.
    pub prefix: Prefix,
    /// conda packages.
    pub conda: Vec<String>,
    /// pip packages (and `-r FILE`).
    pub pip: Vec<String>,
    /// conda channels.
    pub channels: Vec<String>,
    /// Whether the environment existed before this plan (packages installed into it cannot
    /// be rolled back).
    pub into_existing: bool,
    /// The backend that installs the conda packages (none without conda packages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conda_backend: Option<BackendKind>,
    /// The commands, in order (rattler's in-process install has none).
    pub commands: Vec<CommandView>,
    #[serde(skip)]
    pub(crate) actions: Vec<InstallAction>,
}

/// One installer call.
#[derive(Debug, Clone)]
pub(crate) enum InstallAction {
    /// Conda packages through the conda-family backend of the found tool
    /// ([`envs::Backend::install`]: `<tool> install -p PREFIX …`).
    Conda {
        /// The backend, as [`envs::backend_for`] names it.
        backend: BackendKind,
        /// The tools the backend is built from.
        tools: envs::Tools,
        /// The environment as the snapshot read it.
        env: Box<Environment>,
        /// The packages (conda only; pip packages are their own action).
        pkgs: PackageSet,
        /// Channels on top of the configured ones.
        channels: Vec<String>,
    },
    /// The environment's own `pip install` (conda environments and plain prefixes; venvs
    /// are [`InstallAction::Venv`]).
    Pip {
        /// The command.
        cmd: ToolCommand,
    },
    /// Packages into a venv, with the installer `add` would use (chosen when it runs: the
    /// user's uv, kernels' own uv, provisioned once with `base`'s pip, else pip).
    Venv {
        driver: VenvDriver,
        base: Option<PathBuf>,
        pkgs: PipInstall,
    },
}

/// Write the kernelspec.
#[derive(Debug, Clone, Serialize)]
pub struct WriteKernelStep {
    /// The spec directory.
    pub dir: PathBuf,
    /// The kernel.json text. When environment steps run first, a prediction: the executor
    /// computes the real one from the environment as it is after them.
    pub kernel_json: String,
    /// Files copied next to it.
    pub resources: Vec<PathBuf>,
    /// Whether `kernel_json` is a prediction.
    pub predicted: bool,
}

/// A warning about an allowed plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanWarning {
    /// The kernel it concerns.
    pub kernel: String,
    /// One sentence.
    pub message: String,
}

/// Why a request cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The request is inconsistent on any machine.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The backend's tool is not installed.
    #[error("kernel `{kernel}`: {}", backend.missing_text())]
    ToolMissing {
        /// The kernel.
        kernel: String,
        /// The backend that needs it.
        backend: BackendKind,
    },
    /// R needs a conda-family tool and none was found.
    #[error("kernel `{kernel}`: creating an R environment needs conda, mamba or micromamba, and none was found")]
    RNeedsConda {
        /// The kernel.
        kernel: String,
    },
    /// `--existing` names nothing.
    #[error("kernel `{kernel}`: there is no environment at {}", prefix.display())]
    NoSuchEnvironment {
        /// The kernel.
        kernel: String,
        /// The path.
        prefix: Prefix,
    },
    /// `--existing NAME`: no conda environment has that name (and it is no path here).
    #[error("kernel `{kernel}`: no conda environment is named `{name}` (and there is no directory {name} here)")]
    NoSuchEnvName {
        /// The kernel.
        kernel: String,
        /// The name given.
        name: String,
        /// The closest environment names.
        close: Vec<String>,
    },
    /// `--existing` names something that is not an environment.
    #[error("kernel `{kernel}`: {} is not an environment (no conda-meta/history, pyvenv.cfg, bin/python or R)", prefix.display())]
    NotAnEnvironment {
        /// The kernel.
        kernel: String,
        /// The path.
        prefix: Prefix,
    },
    /// The prefix holds an environment a `kernels` run is making, or was making when it was
    /// killed ([`crate::guard`]); it is not this user's to delete, or a run is still on it.
    #[error("kernel `{kernel}`: {} is {}", prefix.display(), if *building { "an environment another kernels run is still creating" } else { "a half-made environment (a kernels run was killed while creating it)" })]
    HalfMade {
        /// The kernel.
        kernel: String,
        /// The path.
        prefix: Prefix,
        /// The run making it is alive.
        building: bool,
    },
    /// A new environment's prefix holds something else.
    #[error("kernel `{kernel}`: refusing to create an environment at {}: it exists, is not empty and is not an environment", prefix.display())]
    TargetOccupied {
        /// The kernel.
        kernel: String,
        /// The path.
        prefix: Prefix,
    },
    /// conda packages for a conda environment, but no conda-family tool.
    #[error("kernel `{kernel}`: installing conda packages into {} needs conda, mamba or micromamba, and none was found", prefix.display())]
    CondaToolMissing {
        /// The kernel.
        kernel: String,
        /// The environment.
        prefix: Prefix,
    },
    /// pip into an interpreter marked externally managed (PEP 668).
    #[error("kernel `{kernel}`: refusing to install packages into {}: its Python is externally managed (PEP 668 EXTERNALLY-MANAGED)", prefix.display())]
    ExternallyManaged {
        /// The kernel.
        kernel: String,
        /// The environment.
        prefix: Prefix,
    },
    /// No kernelspec can be written for the environment.
    #[error("kernel `{kernel}`: {source}")]
    Spec {
        /// The kernel.
        kernel: String,
        /// Why.
        #[source]
        source: SpecForEnvError,
    },
    /// A requirements file could not be read.
    #[error("kernel `{kernel}`: failed to read the requirements file {}", path.display())]
    Requirements {
        /// The kernel.
        kernel: String,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// `--clone` names no environment (or the target itself).
    #[error("kernel `{kernel}`: cannot clone {given:?}: {reason}")]
    CloneSource {
        /// The kernel.
        kernel: String,
        /// What was given.
        given: String,
        /// Why.
        reason: String,
    },
    /// Two requests of one plan want the same kernel or environment.
    #[error("kernel `{kernel}`: {what} is also planned for kernel `{other}`")]
    Conflict {
        /// The kernel.
        kernel: String,
        /// The other kernel.
        other: String,
        /// What they share.
        what: String,
    },
}

impl PlanError {
    /// The kernel concerned (none for a request error, whose message names it).
    pub fn kernel(&self) -> Option<&str> {
        match self {
            PlanError::Request(_) => None,
            PlanError::ToolMissing { kernel, .. }
            | PlanError::RNeedsConda { kernel }
            | PlanError::NoSuchEnvironment { kernel, .. }
            | PlanError::NoSuchEnvName { kernel, .. }
            | PlanError::NotAnEnvironment { kernel, .. }
            | PlanError::HalfMade { kernel, .. }
            | PlanError::TargetOccupied { kernel, .. }
            | PlanError::CondaToolMissing { kernel, .. }
            | PlanError::ExternallyManaged { kernel, .. }
            | PlanError::Spec { kernel, .. }
            | PlanError::Requirements { kernel, .. }
            | PlanError::CloneSource { kernel, .. }
            | PlanError::Conflict { kernel, .. } => Some(kernel),
        }
    }

    /// True for a request that is wrong in itself (a usage error).
    pub fn is_usage(&self) -> bool {
        matches!(self, PlanError::Request(_))
    }

    /// True when the environment's owner forbids the change (PEP 668): a refusal, not a
    /// failure.
    pub fn is_refusal(&self) -> bool {
        matches!(self, PlanError::ExternallyManaged { .. })
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        let h = match self {
            PlanError::Request(r) => return r.hint(),
            PlanError::ToolMissing { backend, .. } => {
                return envs::EnvError::ToolMissing { backend: *backend }.hint()
            }
            PlanError::RNeedsConda { .. } => {
                "install Miniforge or micromamba, or register an R that exists with --existing PREFIX (e.g. --existing /usr)".to_owned()
            }
            PlanError::NoSuchEnvironment { .. } => {
                "`kernels envs` lists the environments this machine has".to_owned()
            }
            PlanError::NoSuchEnvName { close, .. } if !close.is_empty() => format!(
                "did you mean {}? (`kernels envs` lists the environments this machine has)",
                close
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            PlanError::NoSuchEnvName { .. } => {
                "give the environment's path, or a name `kernels envs` lists".to_owned()
            }
            PlanError::NotAnEnvironment { .. } => {
                "give the environment's prefix (the directory holding bin/python or conda-meta)".to_owned()
            }
            PlanError::TargetOccupied { .. } => {
                "choose another name or --prefix, or move that directory away".to_owned()
            }
            PlanError::HalfMade { building: true, .. } => {
                "run again when that run is done".to_owned()
            }
            PlanError::HalfMade { prefix, .. } => format!(
                "`kernels add` of the kernel that was being made there rebuilds it; if it is not yours, ask its owner, or delete {} once you have checked it",
                prefix.display()
            ),
            PlanError::CondaToolMissing { .. } => {
                "install the packages with pip instead (--pip), or point KERNELS_CONDA at conda".to_owned()
            }
            PlanError::ExternallyManaged { .. } => {
                "this Python belongs to the operating system; create an environment for the packages instead (`kernels add NAME`)".to_owned()
            }
            PlanError::Spec { source, .. } => match source {
                SpecForEnvError::NoIrkernel { .. } => {
                    "install IRkernel into that R first (Debian: apt install r-cran-irkernel; R: install.packages('IRkernel'))".to_owned()
                }
                SpecForEnvError::NoIpykernel { .. } => {
                    "install ipykernel into it (kernels installs it itself when it may: `kernels add NAME --existing PREFIX`)".to_owned()
                }
                SpecForEnvError::Activation { .. } => {
                    "an etc/conda/activate.d script of the environment fails; fix or remove it".to_owned()
                }
                _ => return None,
            },
            PlanError::Requirements { .. } => return None,
            PlanError::CloneSource { .. } => {
                "give an environment's path, a kernel name (`kernels list`) or a conda environment name (`kernels envs`)".to_owned()
            }
            PlanError::Conflict { .. } => {
                "give each kernel its own name and environment".to_owned()
            }
        };
        Some(h)
    }
}

impl Plan {
    /// For `--dry-run`: solves each create step whose backend solves in-process (rattler),
    /// so the plan lists the packages it would link. A failed solve fails the dry run as it
    /// would fail the real one.
    pub fn solve_previews(&mut self, host: &HostEnv) -> Result<(), envs::EnvError> {
        for k in &mut self.kernels {
            for step in &mut k.steps {
                if let Step::CreateEnv(c) = step {
                    let backend = envs::backend_for(c.backend, &c.tools, host)?;
                    c.solved = backend.solved_packages(&c.create)?;
                }
            }
        }
        Ok(())
    }

    /// True when nothing would run.
    pub fn is_noop(&self) -> bool {
        self.kernels.iter().all(|k| k.steps.is_empty())
    }

    /// Kernelspecs the plan overwrites that `kernels` did not make (a caller should ask
    /// before replacing them, or require `--yes`).
    pub fn foreign_replacements(&self) -> impl Iterator<Item = &KernelPlan> {
        self.kernels
            .iter()
            .filter(|k| k.write_step().is_some() && k.replaces.is_some_and(|r| !r.managed))
    }

    /// Asks the protection policy about every kernel to be written (refused when it meets a
    /// protected kernel or display name, or goes into a frozen environment) and every
    /// existing environment to be changed (refused when frozen). Allowed plans get warnings:
    /// shadowing either way, duplicate display names, a kernels dir Jupyter does not search.
    pub fn check_policy(&self, snap: &Snapshot) -> Result<Vec<PlanWarning>, Refusal> {
        let mut warnings = Vec::new();
        for k in &self.kernels {
            for step in &k.steps {
                if let Step::InstallPackages(i) = step {
                    if i.into_existing {
                        if let Some(env) = Environment::inspect(&i.prefix) {
                            snap.policy.check_modify_env(&env)?;
                        }
                    }
                }
            }
            if k.spec_request.is_none() {
                continue;
            }
            let kernels_dir = k.kernel_dir.parent().unwrap_or(&k.kernel_dir);
            let result = snap.policy.check_register_kernel(
                k.name.as_str(),
                &k.display_name,
                kernels_dir,
                &snap.discovery,
                &snap.paths,
            );
            let found = match result {
                Ok(w) => w,
                // Nothing is written for an unchanged kernel, so nothing is refused.
                Err(_) if k.status == KernelStatus::Unchanged => Vec::new(),
                Err(refusal) => return Err(refusal),
            };
            warnings.extend(found.iter().map(|w: &RegisterWarning| PlanWarning {
                kernel: k.name.to_string(),
                message: w.to_string(),
            }));
        }
        Ok(warnings)
    }
}

/// Plans every request against the snapshot (see the module docs). `snap.targets[i]` must
/// be the facts of `requests[i]` ([`Snapshot::take`] guarantees it).
pub fn plan(requests: &[KernelRequest], snap: &Snapshot) -> Result<Plan, PlanError> {
    let mut kernels: Vec<KernelPlan> = Vec::with_capacity(requests.len());
    for (req, target) in requests.iter().zip(&snap.targets) {
        req.validate()?;
        let k = plan_one(req, target, &snap.host)?;
        for other in &kernels {
            let clash = if other.kernel_dir == k.kernel_dir {
                Some(format!("kernelspec {}", k.kernel_dir.display()))
            } else if other.env.prefix == k.env.prefix && (has_create(other) || has_create(&k)) {
                Some(format!("environment {}", k.env.prefix.display()))
            } else {
                None
            };
            if let Some(what) = clash {
                return Err(PlanError::Conflict {
                    kernel: k.name.to_string(),
                    other: other.name.to_string(),
                    what,
                });
            }
        }
        kernels.push(k);
    }
    Ok(Plan { kernels })
}

fn has_create(k: &KernelPlan) -> bool {
    k.steps.iter().any(|s| matches!(s, Step::CreateEnv(_)))
}

/// What planning the environment decided, for the kernelspec that follows.
struct EnvOutcome {
    /// The environment's facts as they will be after the steps (predicted when any run).
    facts: EnvFacts,
    /// How the environment was (or will be) made.
    backend: BackendLabel,
    /// Whether `kernels` created it (in this plan or an earlier run).
    env_created: bool,
    /// Whether `facts` is a prediction (environment steps run first).
    predicted: bool,
}

fn plan_one(req: &KernelRequest, t: &TargetFacts, host: &HostEnv) -> Result<KernelPlan, PlanError> {
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    let env = plan_env(req, t, host, &mut steps, &mut notes)?;
    let display_name = req
        .display_name
        .clone()
        .unwrap_or_else(|| default_display_name(req.language, &req.name));
    let spec_request = SpecRequest {
        name: req.name.clone(),
        display_name: Some(display_name.clone()),
        language: req.language,
        user_env: req.kernel_env.clone(),
        backend: env.backend,
        env_created: env.env_created,
        origin: req.origin,
        apply_file: req.apply_file.clone(),
    };
    let kernel_dir = t.kernels_dir.join(req.name.as_str());
    let replaces = t.existing_kernel.as_ref().map(|k| Replaced {
        managed: k.managed().is_some(),
        loads: k.spec.is_ok(),
    });
    if req.register {
        steps.extend(plan_write(t, &spec_request, &env, &kernel_dir)?);
    }
    let status = if steps.is_empty() {
        KernelStatus::Unchanged
    } else if replaces.is_some() {
        KernelStatus::Update
    } else {
        KernelStatus::Create
    };
    Ok(KernelPlan {
        name: req.name.clone(),
        display_name,
        language: req.language,
        status,
        env: EnvPlan {
            prefix: t.prefix.clone(),
            exists: t.state.env().is_some(),
            backend: env.backend,
            env_created: env.env_created,
        },
        kernel_dir,
        replaces,
        steps,
        notes,
        spec_request: req.register.then_some(spec_request),
    })
}

/// The environment's steps (pushed onto `steps`), refusing a prefix that cannot serve.
fn plan_env(
    req: &KernelRequest,
    t: &TargetFacts,
    host: &HostEnv,
    steps: &mut Vec<Step>,
    notes: &mut Vec<String>,
) -> Result<EnvOutcome, PlanError> {
    let kernel = req.name.to_string();
    let prefix = t.prefix.clone();
    match (&req.env, &t.state) {
        (EnvSource::Existing { .. }, PrefixState::Absent) => Err(match &t.unknown_env_name {
            Some((name, close)) => PlanError::NoSuchEnvName {
                kernel,
                name: name.clone(),
                close: close.clone(),
            },
            None => PlanError::NoSuchEnvironment { kernel, prefix },
        }),
        (EnvSource::Existing { .. }, PrefixState::EmptyDir | PrefixState::NotAnEnv) => {
            Err(PlanError::NotAnEnvironment { kernel, prefix })
        }
        (EnvSource::New { .. }, PrefixState::NotAnEnv) => {
            Err(PlanError::TargetOccupied { kernel, prefix })
        }
        (EnvSource::Existing { .. }, PrefixState::HalfMade { building, .. })
        | (
            EnvSource::New { .. },
            PrefixState::HalfMade {
                building,
                ours: false,
            },
        )
        | (
            EnvSource::New { .. },
            PrefixState::HalfMade {
                building: building @ true,
                ..
            },
        ) => Err(PlanError::HalfMade {
            kernel,
            prefix,
            building: *building,
        }),
        (
            EnvSource::New { .. },
            PrefixState::Absent | PrefixState::EmptyDir | PrefixState::HalfMade { .. },
        ) => {
            let rebuilds = matches!(t.state, PrefixState::HalfMade { .. });
            if rebuilds {
                notes.push(format!(
                    "{} was left half-made by a kernels run that was killed; it is deleted and made again",
                    prefix.display()
                ));
            }
            plan_create(req, t, host, steps, rebuilds)
        }
        (_, PrefixState::Env(facts)) => plan_existing(req, t, facts, host, steps, notes),
    }
}

/// A new environment: one `CreateEnv` step with the backend's exact commands.
fn plan_create(
    req: &KernelRequest,
    t: &TargetFacts,
    host: &HostEnv,
    steps: &mut Vec<Step>,
    rebuilds: bool,
) -> Result<EnvOutcome, PlanError> {
    let kernel = req.name.to_string();
    let prefix = t.prefix.clone();
    let kind = match t.create_with {
        CreateWith::Backend(k) => k,
        CreateWith::Missing(_) if req.language == Language::R => {
            return Err(PlanError::RNeedsConda { kernel })
        }
        CreateWith::Missing(backend) => return Err(PlanError::ToolMissing { kernel, backend }),
    };
    if kind == BackendKind::Venv && req.language == Language::R {
        return Err(PlanError::RNeedsConda { kernel });
    }
    if kind == BackendKind::Venv && req.packages.environment_file.is_some() {
        return Err(RequestError::VenvCannot {
            name: kernel,
            what: "use a conda environment file (no conda, mamba or micromamba was found)",
        }
        .into());
    }
    let p = &req.packages;
    let create = match clone_source(req, t)? {
        Some(src) => clone_create(req, &prefix, src, kind),
        None => CreateEnv {
            prefix: prefix.clone(),
            python: p.python.clone(),
            conda_packages: p.conda.clone(),
            pip_packages: p.pip.clone(),
            requirements: p.requirements.as_deref().map(envs::absolute),
            environment_file: p.environment_file.as_deref().map(envs::absolute),
            channels: p.channels.clone(),
            language: req.language,
            clone_from: None,
        },
    };
    let backend = envs::backend_for(kind, &t.tools, host).map_err(|_| PlanError::ToolMissing {
        kernel: kernel.clone(),
        backend: kind,
    })?;
    let uv = kind == BackendKind::Venv && t.tools.uv.is_some();
    let commands = backend
        .create_commands(&create)
        .iter()
        .map(CommandView::of)
        .collect();
    steps.push(Step::CreateEnv(CreateEnvStep {
        prefix: prefix.clone(),
        backend: kind,
        uv,
        commands,
        solved: Vec::new(),
        create: Box::new(create),
        tools: t.tools.clone(),
        rebuilds,
    }));
    Ok(EnvOutcome {
        facts: predicted_facts(&prefix, kind, req, host),
        backend: BackendLabel::created_by(kind, uv),
        env_created: true,
        predicted: true,
    })
}

/// An existing environment: what it lacks, in one `InstallPackages` step, and notes on
/// what is not changed.
fn plan_existing(
    req: &KernelRequest,
    t: &TargetFacts,
    facts: &EnvFacts,
    host: &HostEnv,
    steps: &mut Vec<Step>,
    notes: &mut Vec<String>,
) -> Result<EnvOutcome, PlanError> {
    let prefix = &t.prefix;
    // A re-run finds the copy made before; the source itself is never the target.
    if let Some(src) = clone_source(req, t)? {
        if same_dir(&src.prefix, prefix) {
            return Err(PlanError::CloneSource {
                kernel: req.name.to_string(),
                given: src.given.clone(),
                reason: "it is the environment the kernel would use; a copy needs its own name or --prefix".into(),
            });
        }
    }
    let existing_meta = t
        .existing_kernel
        .as_ref()
        .and_then(|k| k.managed())
        .or_else(|| t.reused_from.clone())
        .filter(|m| &m.env == prefix);
    // Who made the environment: only the user's records and the marker inside it say
    // (`ownership`); a kernel.json that claims it, a copy of one of ours registered with
    // --existing, or one re-made at the old path does not count.
    let (env_created, backend) = match (facts.created_by_kernels, &existing_meta) {
        (Some(label), _) => (true, label),
        (None, Some(m)) => (false, m.backend),
        (None, None) => (false, BackendLabel::Existing),
    };
    if let Some(want) = &req.packages.python {
        let have = facts.python_version.as_deref().unwrap_or("");
        if !version_matches(have, want) {
            notes.push(format!(
                "the existing environment has Python {}, not {want}; it is not changed",
                if have.is_empty() { "(unknown)" } else { have }
            ));
        }
    }
    if req.packages.environment_file.is_some() {
        notes.push(
            "the environment exists already; its environment file is not applied again".to_owned(),
        );
    }
    let install = missing_packages(req, facts, t.tools.conda.is_some())?;
    let mut predicted = false;
    let mut spec_facts = facts.clone();
    if !install.pkgs.is_empty() || install.requirements.is_some() {
        let step = install_step(req, t, facts, &install, host)?;
        steps.push(Step::InstallPackages(step));
        predicted = true;
        predict_installed(&mut spec_facts, req.language);
    }
    Ok(EnvOutcome {
        facts: spec_facts,
        backend,
        env_created,
        predicted,
    })
}

/// The kernelspec write, unless the kernel.json on disk is already the one wanted.
fn plan_write(
    t: &TargetFacts,
    spec_request: &SpecRequest,
    env: &EnvOutcome,
    kernel_dir: &Path,
) -> Result<Option<Step>, PlanError> {
    let desired: DesiredKernel =
        spec_for_env(spec_request, &env.facts).map_err(|source| PlanError::Spec {
            kernel: spec_request.name.to_string(),
            source,
        })?;
    let same = !env.predicted
        && t.existing_kernel
            .as_ref()
            .and_then(|k| k.spec.as_ref().ok().map(|s| desired.matches(s, &k.dir)))
            .unwrap_or(false);
    Ok((!same).then(|| {
        Step::WriteKernel(WriteKernelStep {
            dir: kernel_dir.to_path_buf(),
            kernel_json: desired.spec.to_file_string(),
            resources: desired.resources,
            predicted: env.predicted,
        })
    }))
}

/// The resolved `--clone` source of a request, if it has one.
fn clone_source<'a>(
    req: &KernelRequest,
    t: &'a TargetFacts,
) -> Result<Option<&'a CloneSource>, PlanError> {
    match &t.clone {
        None => Ok(None),
        Some(Ok(src)) => Ok(Some(src)),
        Some(Err(reason)) => Err(PlanError::CloneSource {
            kernel: req.name.to_string(),
            given: req.clone.clone().unwrap_or_default(),
            reason: reason.clone(),
        }),
    }
}

/// The create request of a copy (see [`crate::clone`]): conda into the conda family is the
/// tool's own clone plus ipykernel (if the source lacks it) and the extra packages; anything
/// else is a fresh environment from the source's Python with its distributions pinned.
fn clone_create(
    req: &KernelRequest,
    prefix: &Prefix,
    src: &CloneSource,
    kind: BackendKind,
) -> CreateEnv {
    let p = &req.packages;
    let mut create = CreateEnv {
        pip_packages: p.pip.clone(),
        requirements: p.requirements.as_deref().map(envs::absolute),
        channels: p.channels.clone(),
        language: req.language,
        ..CreateEnv::new(prefix.clone())
    };
    // The conda-family tools copy a conda environment; rattler (no tool) and venv start
    // from the source's Python with its distributions pinned.
    if src.conda && kind.flavor().is_some() {
        create.clone_from = Some(src.prefix.clone());
        if req.language == Language::Python && !src.has_ipykernel {
            create.conda_packages.push("ipykernel".into());
        }
        create.conda_packages.extend(p.conda.iter().cloned());
        return create;
    }
    create.python = if kind == BackendKind::Venv {
        src.base_python
            .as_ref()
            .map(|b| b.display().to_string())
            .or_else(|| src.python_version.clone())
    } else {
        src.python_version.clone()
    };
    let mut pip = src.pinned.clone();
    pip.extend(p.conda.iter().cloned());
    pip.append(&mut create.pip_packages);
    create.pip_packages = pip;
    create
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// `3.11.7` satisfies `3.11`, `3.11.7`, `3`; not `3.1`.
fn version_matches(have: &str, want: &str) -> bool {
    let want = want.trim().trim_start_matches(['=', '~', '>', '<', '!']);
    have == want || have.starts_with(&format!("{want}."))
}

/// What an existing environment lacks.
#[derive(Debug, Default)]
struct Missing {
    pkgs: PackageSet,
    requirements: Option<PathBuf>,
}

/// Whether `spec` must be handed to the installer, given the installed names.
fn wanted(
    spec: &str,
    name: Option<String>,
    installed: &BTreeSet<String>,
    mode: InstallMode,
) -> bool {
    match name {
        None => true,
        Some(n) if !installed.contains(&n) => true,
        Some(_) => mode == InstallMode::Requested && has_constraint(spec),
    }
}

fn has_constraint(spec: &str) -> bool {
    spec.contains(['=', '<', '>', '!', '~', '@', ' ', '*'])
}

/// What `f` lacks for `req`. The kernel package goes to conda in a conda environment when a
/// conda-family tool was found, else to the environment's own pip (a conda environment whose
/// tool is not on this machine's search path can still be registered).
fn missing_packages(
    req: &KernelRequest,
    f: &EnvFacts,
    conda_tool: bool,
) -> Result<Missing, PlanError> {
    let mode = req.install_mode;
    let p = &req.packages;
    let mut m = Missing::default();
    let conda_env = f.is_conda();
    let push_unique = |list: &mut Vec<String>, s: &str| {
        if !list.iter().any(|x| x == s) {
            list.push(s.to_owned());
        }
    };
    // The kernel package (and the language itself, in a conda environment), when the
    // kernel is to be registered.
    let language = req.register.then_some(req.language);
    match language {
        Some(Language::Python) => {
            if conda_env && f.env.python.is_none() {
                push_unique(&mut m.pkgs.conda, "python");
                push_unique(&mut m.pkgs.conda, "pip");
            }
            if f.ipykernel.is_none() {
                if conda_env && (conda_tool || f.env.python.is_none()) {
                    push_unique(&mut m.pkgs.conda, "ipykernel");
                } else {
                    push_unique(&mut m.pkgs.pip, "ipykernel");
                }
            }
        }
        Some(Language::R) if conda_env => {
            if f.r.is_none() {
                push_unique(&mut m.pkgs.conda, "r-base");
            }
            if f.r.as_ref().is_none_or(|r| r.irkernel_spec_dir.is_none()) {
                push_unique(&mut m.pkgs.conda, "r-irkernel");
            }
        }
        Some(Language::R) | None => {}
    }
    for spec in &p.conda {
        if conda_env {
            if wanted(spec, envs::conda_spec_name(spec), &f.conda_names, mode) {
                push_unique(&mut m.pkgs.conda, spec);
            }
        } else if wanted(spec, envs::pip_spec_name(spec), &f.pip_names, mode) {
            push_unique(&mut m.pkgs.pip, spec);
        }
    }
    for spec in &p.pip {
        if wanted(spec, envs::pip_spec_name(spec), &f.pip_names, mode) {
            push_unique(&mut m.pkgs.pip, spec);
        }
    }
    if let Some(file) = &p.requirements {
        let text = std::fs::read_to_string(file).map_err(|source| PlanError::Requirements {
            kernel: req.name.to_string(),
            path: file.clone(),
            source,
        })?;
        let satisfied = requirement_names(&text)
            .is_some_and(|names| names.iter().all(|n| f.pip_names.contains(n)));
        if !satisfied || mode == InstallMode::Requested {
            m.requirements = Some(envs::absolute(file));
        }
    }
    Ok(m)
}

/// The distribution names a requirements file asks for, or `None` when it has lines that
/// cannot be matched by name (URLs, paths, editables, nested `-r`/`-c` files).
fn requirement_names(text: &str) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for raw in text.lines() {
        let line = raw.split(" #").next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('-') {
            let opt = line.split([' ', '=']).next().unwrap_or("");
            match opt {
                "-r" | "--requirement" | "-c" | "--constraint" | "-e" | "--editable" => {
                    return None
                }
                // Index and resolver options name no package.
                _ => continue,
            }
        }
        names.push(envs::pip_spec_name(line)?);
    }
    Some(names)
}

/// Who installs conda packages into an existing environment: rattler when the request asks
/// for it or (under `auto`) when rattler made the environment, else the conda-family tool
/// found, else rattler when it is built in (under `auto` only: an explicit `--backend conda`
/// does not silently become another tool).
fn conda_install_backend(
    req: &KernelRequest,
    tools: &envs::Tools,
    made_by: Option<BackendLabel>,
) -> Option<BackendKind> {
    let choice = match &req.env {
        EnvSource::New { backend, .. } => *backend,
        EnvSource::Existing { .. } => BackendChoice::Auto,
    };
    let rattler = envs::RATTLER_BUILT.then_some(BackendKind::Rattler);
    let made_by_rattler = matches!(
        made_by,
        Some(BackendLabel::Created {
            kind: BackendKind::Rattler,
            ..
        })
    );
    let found = tools
        .conda
        .as_ref()
        .map(|tool| BackendKind::from_flavor(tool.flavor));
    match choice {
        BackendChoice::Only(BackendKind::Rattler) if rattler.is_some() => rattler,
        BackendChoice::Auto if made_by_rattler && rattler.is_some() => rattler,
        BackendChoice::Only(BackendKind::Rattler) | BackendChoice::Auto => found.or(rattler),
        BackendChoice::Only(_) => found,
    }
}

fn install_step(
    req: &KernelRequest,
    t: &TargetFacts,
    f: &EnvFacts,
    m: &Missing,
    host: &HostEnv,
) -> Result<InstallStep, PlanError> {
    let kernel = req.name.to_string();
    let prefix = f.env.prefix.clone();
    let mut actions = Vec::new();
    if !m.pkgs.conda.is_empty() {
        let backend =
            conda_install_backend(req, &t.tools, f.created_by_kernels).ok_or_else(|| {
                PlanError::CondaToolMissing {
                    kernel: kernel.clone(),
                    prefix: prefix.clone(),
                }
            })?;
        actions.push(InstallAction::Conda {
            backend,
            tools: t.tools.clone(),
            env: Box::new(f.env.clone()),
            pkgs: PackageSet {
                conda: m.pkgs.conda.clone(),
                pip: Vec::new(),
            },
            channels: req.packages.channels.clone(),
        });
    }
    let pip = PipInstall {
        packages: m.pkgs.pip.clone(),
        requirements: m.requirements.clone(),
    };
    if !pip.is_empty() {
        if f.externally_managed {
            return Err(PlanError::ExternallyManaged { kernel, prefix });
        }
        if f.env.python.is_none() {
            return Err(PlanError::Spec {
                kernel,
                source: SpecForEnvError::NoPython {
                    prefix: prefix.into(),
                },
            });
        }
        actions.push(match f.env.kind {
            EnvKind::Venv => InstallAction::Venv {
                driver: VenvDriver::new(t.tools.uv.clone(), host)
                    .with_provision(t.tools.uv_provision.clone()),
                base: t.tools.python.clone(),
                pkgs: pip,
            },
            // conda environments and plain prefixes use their own pip, which keeps conda's
            // view of the environment consistent with what users do by hand.
            _ => InstallAction::Pip {
                cmd: envs::pip_install_command(&prefix, &pip, host),
            },
        });
    }
    let commands = actions
        .iter()
        .flat_map(|a| action_commands(a, &prefix, host))
        .collect();
    let mut pip_list = m.pkgs.pip.clone();
    if let Some(r) = &m.requirements {
        pip_list.push(format!("-r {}", r.display()));
    }
    Ok(InstallStep {
        prefix,
        conda: m.pkgs.conda.clone(),
        pip: pip_list,
        channels: req.packages.channels.clone(),
        into_existing: true,
        conda_backend: actions.iter().find_map(|a| match a {
            InstallAction::Conda { backend, .. } => Some(*backend),
            _ => None,
        }),
        commands,
        actions,
    })
}

/// The command lines an install action runs, for the plan and `--dry-run`.
fn action_commands(action: &InstallAction, prefix: &Prefix, host: &HostEnv) -> Vec<CommandView> {
    match action {
        // rattler solves and links in-process: no command to show.
        InstallAction::Conda {
            backend: BackendKind::Rattler,
            ..
        } => Vec::new(),
        InstallAction::Conda {
            tools,
            pkgs,
            channels,
            ..
        } => tools
            .conda
            .iter()
            .map(|tool| {
                let driver = CondaDriver::new(tool.clone(), host);
                CommandView::of(&driver.install_command(prefix, &pkgs.conda, channels, false))
            })
            .collect(),
        InstallAction::Pip { cmd } => vec![CommandView::of(cmd)],
        InstallAction::Venv { driver, base, pkgs } => driver
            .install_commands(base.as_deref(), prefix, pkgs)
            .iter()
            .map(CommandView::of)
            .collect(),
    }
}

/// The facts of an environment that will exist after a create step (for the predicted
/// kernel.json of `--dry-run`; the executor reads the real ones).
fn predicted_facts(
    prefix: &Prefix,
    kind: BackendKind,
    req: &KernelRequest,
    host: &HostEnv,
) -> EnvFacts {
    let python = req.language == Language::Python;
    let env = Environment {
        name: None,
        prefix: prefix.clone(),
        kind: if kind == BackendKind::Venv {
            EnvKind::Venv
        } else {
            EnvKind::Conda
        },
        python: python.then(|| envs::env_python(prefix)),
        python_version: req.packages.python.clone(),
        has_ipykernel: python,
        frozen: None,
    };
    // Never `envs::activate`: a rebuilt half-made prefix may hold activation scripts, and
    // planning (even `--dry-run`) must not run them.
    let activation = Ok(Some(envs::predict_activation(&env, host)));
    let mut facts = EnvFacts {
        cpython: true,
        python_version: req.packages.python.clone(),
        ipykernel: None,
        conda_names: BTreeSet::new(),
        pip_names: BTreeSet::new(),
        activation,
        r: None,
        externally_managed: false,
        created_by_kernels: None,
        env,
    };
    predict_installed(&mut facts, req.language);
    facts
}

/// Facts patched as if the kernel package (and R) were installed by the plan's steps.
fn predict_installed(f: &mut EnvFacts, language: Language) {
    let prefix = f.env.prefix.clone();
    match language {
        Language::Python => {
            if f.env.python.is_none() {
                f.env.python = Some(envs::env_python(&prefix));
            }
            if f.ipykernel.is_none() {
                f.ipykernel = Some(InstalledPackage {
                    version: None,
                    resources: None,
                });
            }
        }
        Language::R => {
            let r = f.r.get_or_insert_with(|| RFacts {
                r_exe: prefix.join("lib/R/bin/R"),
                irkernel_spec_dir: None,
            });
            if r.irkernel_spec_dir.is_none() {
                r.irkernel_spec_dir = Some(prefix.join("lib/R/library/IRkernel/kernelspec"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_files_by_name() {
        assert_eq!(
            requirement_names("# c\nnumpy>=1 # why\n--index-url https://x\nPandas[excel]\n\n"),
            Some(vec!["numpy".to_owned(), "pandas".to_owned()])
        );
        assert_eq!(requirement_names("-r other.txt\n"), None);
        assert_eq!(requirement_names("git+https://x/y\n"), None);
    }

    #[test]
    fn constraints_and_versions() {
        let installed: BTreeSet<String> = ["numpy".to_owned()].into();
        assert!(!wanted(
            "numpy",
            Some("numpy".into()),
            &installed,
            InstallMode::Requested
        ));
        assert!(wanted(
            "numpy>=2",
            Some("numpy".into()),
            &installed,
            InstallMode::Requested
        ));
        assert!(!wanted(
            "numpy>=2",
            Some("numpy".into()),
            &installed,
            InstallMode::Missing
        ));
        assert!(wanted(
            "scipy",
            Some("scipy".into()),
            &installed,
            InstallMode::Missing
        ));
        assert!(version_matches("3.11.7", "3.11"));
        assert!(version_matches("3.11.7", "=3.11"));
        assert!(!version_matches("3.11.7", "3.1"));
    }

    #[test]
    fn predicting_a_rebuild_runs_nothing_the_old_prefix_holds() {
        // A half-made conda prefix that already has an activation script: the plan for its
        // rebuild predicts the kernel's activation without sourcing it.
        let t = tempfile::tempdir().unwrap();
        let prefix = t.path().join("env");
        let marker = t.path().join("ran");
        let scripts = prefix.join("etc/conda/activate.d");
        std::fs::create_dir_all(&scripts).unwrap();
        std::fs::write(
            scripts.join("x.sh"),
            format!("touch '{}'\nexport FROM_SCRIPT=1\n", marker.display()),
        )
        .unwrap();
        let host = HostEnv::from_vars([("HOME", "/home/u"), ("PATH", "/usr/bin:/bin")]);
        let req = KernelRequest::new(KernelName::parse("x").unwrap());
        let prefix = Prefix::absolute(&prefix);
        let facts = predicted_facts(&prefix, BackendKind::Conda, &req, &host);
        let activation = facts.activation.unwrap().unwrap();
        assert!(!marker.exists(), "the half-made prefix's script ran");
        assert!(activation.scripts.is_empty());
        assert!(!activation.vars.contains_key("FROM_SCRIPT"));
        assert_eq!(
            activation.vars.get("CONDA_PREFIX").map(String::as_str),
            Some(prefix.display().to_string().as_str())
        );
    }
}
