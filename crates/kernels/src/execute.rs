//! Runs a [`Plan`]: environment steps first, kernelspecs last, every change journaled.
//!
//! The caller holds the [`crate::RunLock`] and has asked the policy
//! ([`Plan::check_policy`]). [`execute`] then:
//!
//! 1. runs every environment step of every kernel, in plan order ([`Step::CreateEnv`],
//!    [`Step::InstallPackages`]), through the `envs` drivers, each tool under the
//!    [`CancelToken`]; before a create it checks again that the prefix is still free and
//!    journals it;
//! 2. then, for every kernel with a [`Step::WriteKernel`], reads the environment again,
//!    computes the kernelspec from what is really there ([`spec_for_env`]) and installs it
//!    atomically (a replaced kernelspec is backed up first).
//!
//! On the first failure, or when the token is cancelled (Ctrl-C, SIGTERM), the journal is
//! rolled back ([`crate::journal`]) and an [`ExecuteError`] says what failed, with the tool's
//! own message, and what the rollback did. Nothing that existed before the run is deleted.

use std::path::{Path, PathBuf};
use std::time::Instant;

use envs::{
    BackendKind, CancelToken, EnvError, HostEnv, Language, ProcessObserver, Progress, Tools,
};
use kernelspec::{InstallError, InstallRequest};
use serde::Serialize;

use crate::journal::{
    backup_kernel_dir, missing_ancestors, remove_empty, Journal, JournalEntry, RollbackReport,
};
use crate::plan::{CreateEnvStep, InstallAction, InstallStep, KernelStatus, Plan, Step};
use crate::prefix_lock::{PrefixLock, PrefixLockError};
use crate::snapshot::{EnvFacts, Snapshot};
use crate::spec_for_env::{spec_for_env, BackendLabel, SpecForEnvError};

/// What a successful run did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Per kernel, in plan order.
    pub kernels: Vec<KernelOutcome>,
    /// Every step that ran, in order (empty when the plan was already satisfied).
    pub executed: Vec<ExecutedStep>,
}

/// What happened to one kernel.
#[derive(Debug, Clone, Serialize)]
pub struct KernelOutcome {
    /// The kernel name.
    pub name: String,
    /// What happened (as planned).
    pub status: KernelStatus,
    /// Its kernelspec directory.
    pub kernel_dir: PathBuf,
    /// Its environment.
    pub env: PathBuf,
    /// The kernel.json written, when one was.
    pub kernel_json: Option<String>,
}

/// One step that ran.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutedStep {
    /// The kernel it belongs to.
    pub kernel: String,
    /// `create_env`, `install_packages` or `write_kernel`.
    pub step: &'static str,
    /// The environment prefix or kernelspec directory.
    pub target: PathBuf,
    /// How long it took.
    pub seconds: f64,
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecFailure {
    /// An environment tool failed (its own message and output are in the source chain).
    #[error(transparent)]
    Env(Box<EnvError>),
    /// No kernelspec could be computed for the environment as it turned out.
    #[error(transparent)]
    Spec(#[from] SpecForEnvError),
    /// The kernelspec could not be written.
    #[error(transparent)]
    Install(Box<InstallError>),
    /// The run was cancelled between steps.
    #[error("interrupted")]
    Interrupted,
    /// The environment is not there after the steps that should have made it.
    #[error("{} is not an environment after the steps that should have made it", prefix.display())]
    EnvMissing {
        /// The prefix.
        prefix: PathBuf,
    },
    /// Something appeared at a new environment's prefix after the plan was made.
    #[error("{} is no longer free (something was put there after the plan was made); it was not touched", prefix.display())]
    TargetOccupied {
        /// The prefix.
        prefix: PathBuf,
    },
    /// A file of ours could not be written.
    #[error("failed to {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The lock on a new environment's prefix could not be taken.
    #[error(transparent)]
    PrefixLock(#[from] PrefixLockError),
    /// The environment an installer would run in is not (or no longer) a whole environment:
    /// its interpreter would be another one's (the base interpreter's).
    #[error("{} is not a complete environment ({why}); nothing was installed, so that nothing lands in another interpreter", prefix.display())]
    NotItsInterpreter {
        /// The prefix.
        prefix: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// That `kernels` created the environment could not be recorded.
    #[error(transparent)]
    Record(#[from] crate::ownership::RecordError),
    /// The kernelspec to be replaced could not be backed up.
    #[error("failed to back up the kernelspec {} before replacing it", dir.display())]
    Backup {
        /// The spec directory.
        dir: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl From<EnvError> for ExecFailure {
    fn from(e: EnvError) -> ExecFailure {
        ExecFailure::Env(Box::new(e))
    }
}

impl From<InstallError> for ExecFailure {
    fn from(e: InstallError) -> ExecFailure {
        ExecFailure::Install(Box::new(e))
    }
}

/// A failed run, after its rollback.
#[derive(Debug, thiserror::Error)]
#[error("kernel `{kernel}`: {action} failed")]
pub struct ExecuteError {
    /// The kernel whose step failed.
    pub kernel: String,
    /// What was being done ("creating the environment /p").
    pub action: String,
    /// Why.
    #[source]
    pub cause: ExecFailure,
    /// What the rollback did.
    pub rollback: RollbackReport,
}

impl ExecuteError {
    /// True when the run stopped because it was cancelled.
    pub fn is_interrupted(&self) -> bool {
        match &self.cause {
            ExecFailure::Interrupted
            | ExecFailure::PrefixLock(PrefixLockError::Interrupted { .. }) => true,
            ExecFailure::Env(e) => e.is_interrupted(),
            _ => false,
        }
    }

    /// True when another run held a prefix this run needed for the whole wait.
    pub fn is_busy(&self) -> bool {
        matches!(
            self.cause,
            ExecFailure::PrefixLock(PrefixLockError::Busy { .. })
        )
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match &self.cause {
            ExecFailure::Env(e) => e.hint(),
            ExecFailure::Install(e) if matches!(**e, InstallError::PermissionDenied { .. }) => {
                Some(
                    "that kernels directory is not writable for you; use --user (the default) or \
                 run as its owner"
                        .to_owned(),
                )
            }
            ExecFailure::TargetOccupied { .. } => {
                Some("run again: the plan is made afresh from what is there now".to_owned())
            }
            ExecFailure::PrefixLock(PrefixLockError::Busy { .. }) => Some(
                "another kernels run is creating that environment; run again when it is done"
                    .to_owned(),
            ),
            ExecFailure::PrefixLock(PrefixLockError::NotAFile { lock }) => Some(format!(
                "delete {} if you put it there, then run again",
                lock.display()
            )),
            _ => None,
        }
    }
}

/// Forwards a tool's stderr lines to the progress receiver.
struct Lines<'a>(&'a dyn Progress);

impl ProcessObserver for Lines<'_> {
    fn stderr_line(&self, line: &str) {
        self.0.line(line);
    }
}

type StepResult = Result<(), Box<(String, ExecFailure)>>;

/// Runs `plan` (see the module docs). `snap` must be the snapshot the plan was made from.
pub fn execute(
    plan: &Plan,
    snap: &Snapshot,
    cancel: &CancelToken,
    progress: &dyn Progress,
) -> Result<Outcome, Box<ExecuteError>> {
    let state_dir = crate::LockConfig::from_host(&snap.host)
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut journal = Journal::durable(&state_dir);
    let mut executed = Vec::new();
    let mut locks = PrefixLocks::default();
    macro_rules! fail {
        ($kernel:expr, $action:expr, $cause:expr) => {{
            let rollback = journal.rollback();
            locks.release_after_rollback(&snap.host);
            return Err(Box::new(ExecuteError {
                kernel: $kernel.to_string(),
                action: $action,
                cause: $cause,
                rollback,
            }));
        }};
    }

    // Concurrent runs (other users too) on a new environment's prefix wait for each other.
    let timeout = crate::LockConfig::from_host(&snap.host).timeout;
    for (kernel, prefix) in prefixes_to_create(plan) {
        if let Err(e) = locks.take(&prefix, timeout, cancel) {
            fail!(
                kernel,
                format!("locking the environment prefix {}", prefix.display()),
                e.into()
            );
        }
    }

    for k in &plan.kernels {
        for step in k.env_steps() {
            if cancel.is_cancelled() {
                fail!(
                    k.name,
                    format!("{} (before it started)", describe(step)),
                    ExecFailure::Interrupted
                );
            }
            let started = Instant::now();
            let result = match step {
                Step::CreateEnv(c) => run_create(
                    c,
                    k.language,
                    &snap.host,
                    cancel,
                    progress,
                    &mut journal,
                    &mut executed,
                    k.name.as_str(),
                )
                .map(|created| locks.created.extend(created)),
                Step::InstallPackages(i) => run_install(i, cancel, progress, &mut journal),
                Step::WriteKernel(_) => Ok(()),
            };
            if let Err(e) = result {
                let (action, cause) = *e;
                fail!(k.name, action, cause);
            }
            executed.push(ExecutedStep {
                kernel: k.name.to_string(),
                step: step.kind(),
                target: match step {
                    Step::CreateEnv(c) => c.prefix.clone(),
                    Step::InstallPackages(i) => i.prefix.clone(),
                    Step::WriteKernel(w) => w.dir.clone(),
                },
                seconds: started.elapsed().as_secs_f64(),
            });
        }
    }

    let mut kernels = Vec::with_capacity(plan.kernels.len());
    for k in &plan.kernels {
        let mut written = None;
        if let (Some(w), Some(spec_request)) = (k.write_step(), &k.spec_request) {
            let action = format!("writing the kernelspec {}", w.dir.display());
            if cancel.is_cancelled() {
                fail!(k.name, action, ExecFailure::Interrupted);
            }
            let started = Instant::now();
            let Some(facts) = EnvFacts::read(&k.env.prefix, &snap.host) else {
                fail!(
                    k.name,
                    action,
                    ExecFailure::EnvMissing {
                        prefix: k.env.prefix.clone()
                    }
                );
            };
            let desired = match spec_for_env(spec_request, &facts) {
                Ok(d) => d,
                Err(e) => fail!(k.name, action, e.into()),
            };
            // A predicted kernelspec may turn out to be the one already there.
            let unchanged = kernelspec::KernelSpec::load(&w.dir.join("kernel.json"))
                .is_ok_and(|existing| desired.matches(&existing, &w.dir));
            if unchanged {
                kernels.push(KernelOutcome {
                    name: k.name.to_string(),
                    status: k.status,
                    kernel_dir: k.kernel_dir.clone(),
                    env: k.env.prefix.clone(),
                    kernel_json: None,
                });
                continue;
            }
            let backup = if std::fs::symlink_metadata(&w.dir).is_ok() {
                match backup_kernel_dir(&w.dir) {
                    Ok(b) => Some(b),
                    Err(source) => fail!(
                        k.name,
                        action,
                        ExecFailure::Backup {
                            dir: w.dir.clone(),
                            source
                        }
                    ),
                }
            } else {
                None
            };
            if let Err(source) = journal.record(JournalEntry::KernelWritten {
                dir: w.dir.clone(),
                backup,
                new_parents: missing_ancestors(&w.dir),
            }) {
                let cause = journal_failure(&journal, source);
                fail!(k.name, action, cause);
            }
            progress.step(&format!("Writing kernel {} to {}", k.name, w.dir.display()));
            let kernels_dir = w.dir.parent().unwrap_or(Path::new("."));
            let req = InstallRequest {
                name: &k.name,
                spec: &desired.spec,
                kernels_dir,
                resources: desired.resources.clone(),
                replace: true,
            };
            match kernelspec::install(&req) {
                Ok(_) | Err(InstallError::LeftoverOld { .. }) => {}
                Err(e) => fail!(k.name, action, e.into()),
            }
            written = Some(desired.spec.to_file_string());
            executed.push(ExecutedStep {
                kernel: k.name.to_string(),
                step: "write_kernel",
                target: w.dir.clone(),
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        kernels.push(KernelOutcome {
            name: k.name.to_string(),
            status: k.status,
            kernel_dir: k.kernel_dir.clone(),
            env: k.env.prefix.clone(),
            kernel_json: written,
        });
    }
    journal.commit();
    drop(locks);
    Ok(Outcome { kernels, executed })
}

/// The journal could not be written: the step it was for does not start.
fn journal_failure(journal: &Journal, source: std::io::Error) -> ExecFailure {
    ExecFailure::Io {
        action: "write the run's journal",
        path: journal.file().map(Path::to_path_buf).unwrap_or_default(),
        source,
    }
}

/// The prefix locks a run holds, and the directories taking them created.
#[derive(Default)]
struct PrefixLocks {
    held: Vec<PrefixLock>,
    /// Canonical prefixes of the environments this run created (their records are dropped
    /// again when the run is rolled back).
    created: Vec<PathBuf>,
}

impl PrefixLocks {
    fn take(
        &mut self,
        prefix: &Path,
        timeout: std::time::Duration,
        cancel: &CancelToken,
    ) -> Result<(), PrefixLockError> {
        self.held
            .push(PrefixLock::acquire(prefix, timeout, cancel)?);
        Ok(())
    }

    /// After a rollback: forgets the records of environments that are gone, releases the
    /// locks (their files go) and removes the directories taking them made, when empty.
    fn release_after_rollback(&mut self, host: &HostEnv) {
        for prefix in self.created.drain(..) {
            if std::fs::symlink_metadata(&prefix).is_err() {
                let _ = crate::ownership::forget(host, &prefix);
            }
        }
        for lock in self.held.drain(..) {
            let parents = lock.new_parents().to_vec();
            drop(lock);
            remove_empty(&parents);
        }
    }
}

/// Each prefix a plan creates an environment at, with the first kernel that does (sorted, so
/// two runs take them in the same order).
fn prefixes_to_create(plan: &Plan) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for k in &plan.kernels {
        for step in k.env_steps() {
            if let Step::CreateEnv(c) = step {
                if !out.iter().any(|(_, p)| *p == c.prefix) {
                    out.push((k.name.to_string(), c.prefix.clone()));
                }
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// Refuses to point pip or uv at `prefix` unless its interpreter is its own: a venv has its
/// `pyvenv.cfg` (without it, `bin/python` is the base interpreter: a venv half deleted or
/// half made), a conda environment its `conda-meta`, and anything else a `bin/python` that
/// resolves to a file inside the prefix.
fn check_own_interpreter(prefix: &Path) -> Result<(), ExecFailure> {
    let fail = |why: &str| ExecFailure::NotItsInterpreter {
        prefix: prefix.to_path_buf(),
        why: why.to_owned(),
    };
    let python = prefix.join("bin/python");
    let (Ok(real_prefix), Ok(real_python)) = (
        std::fs::canonicalize(prefix),
        std::fs::canonicalize(&python),
    ) else {
        return Err(fail("it has no bin/python"));
    };
    if prefix.join("pyvenv.cfg").is_file()
        || prefix.join("conda-meta").is_dir()
        || real_python.starts_with(&real_prefix)
    {
        return Ok(());
    }
    Err(fail(
        "bin/python is another installation's interpreter and there is no pyvenv.cfg",
    ))
}

fn describe(step: &Step) -> String {
    match step {
        Step::CreateEnv(c) => format!("creating the environment {}", c.prefix.display()),
        Step::InstallPackages(i) => format!("installing packages into {}", i.prefix.display()),
        Step::WriteKernel(w) => format!("writing the kernelspec {}", w.dir.display()),
    }
}

#[allow(clippy::too_many_arguments)]
fn run_create(
    c: &CreateEnvStep,
    language: Language,
    host: &HostEnv,
    cancel: &CancelToken,
    progress: &dyn Progress,
    journal: &mut Journal,
    executed: &mut Vec<ExecutedStep>,
    kernel: &str,
) -> Result<Option<PathBuf>, Box<(String, ExecFailure)>> {
    let action = describe(&Step::CreateEnv(c.clone()));
    // The plan saw nothing (or an empty directory) here; make sure that is still so before
    // anything is journaled for deletion.
    if envs::check_create_target(&c.prefix).is_err() {
        return Err(Box::new((
            action,
            ExecFailure::TargetOccupied {
                prefix: c.prefix.clone(),
            },
        )));
    }
    let backend = envs::backend_for(c.backend, &c.tools, host)
        .map_err(|e| Box::new((action.clone(), e.into())))?;
    // conda registers what it creates in ~/.conda/environments.txt; a rollback unregisters.
    let registry = (c.backend != BackendKind::Venv)
        .then(|| {
            host.home
                .as_ref()
                .map(|h| h.join(".conda/environments.txt"))
        })
        .flatten();
    journal
        .record(JournalEntry::EnvCreated {
            prefix: c.prefix.clone(),
            was_empty_dir: c.prefix.is_dir(),
            new_parents: missing_ancestors(&c.prefix),
            registry,
        })
        .map_err(|e| Box::new((action.clone(), journal_failure(journal, e))))?;
    backend
        .create(&c.create, cancel, progress)
        .map_err(|e| Box::new((action.clone(), e.into())))?;
    // Before anything else lands in it: the environment records that kernels made it, and
    // so does the user's state dir (the marker alone proves nothing; see `ownership`).
    let label = BackendLabel::created_by(c.backend, c.uv);
    crate::write_env_marker(&c.prefix, label).map_err(|e| {
        Box::new((
            action.clone(),
            ExecFailure::Io {
                action: "record that kernels created the environment in",
                path: c.prefix.join(crate::ENV_MARKER),
                source: e,
            },
        ))
    })?;
    crate::ownership::record_created(host, &c.prefix, label)
        .map_err(|e| Box::new((action.clone(), e.into())))?;
    let created = std::fs::canonicalize(&c.prefix).ok();
    // An environment file may leave out the kernel package; add it in one more call.
    if c.create.environment_file.is_some() {
        let started = Instant::now();
        let facts = EnvFacts::read(&c.prefix, host).ok_or_else(|| {
            Box::new((
                action.clone(),
                ExecFailure::EnvMissing {
                    prefix: c.prefix.clone(),
                },
            ))
        })?;
        let mut specs = Vec::new();
        match language {
            Language::Python if facts.ipykernel.is_none() => {
                if facts.env.python.is_none() {
                    specs.extend(["python".to_owned(), "pip".to_owned()]);
                }
                specs.push("ipykernel".to_owned());
            }
            Language::R
                if facts
                    .r
                    .as_ref()
                    .is_none_or(|r| r.irkernel_spec_dir.is_none()) =>
            {
                if facts.r.is_none() {
                    specs.push("r-base".to_owned());
                }
                specs.push("r-irkernel".to_owned());
            }
            _ => {}
        }
        if !specs.is_empty() {
            if let Some(tool) = c
                .tools
                .conda
                .clone()
                .filter(|_| c.backend != BackendKind::Venv)
            {
                progress.step(&format!(
                    "Installing {} (not in the environment file) into {}",
                    specs.join(" "),
                    c.prefix.display()
                ));
                envs::CondaDriver::new(tool, host)
                    .install(
                        &c.prefix,
                        &specs,
                        &c.create.channels,
                        false,
                        cancel,
                        &Lines(progress),
                    )
                    .map_err(|e| Box::new((action.clone(), e.into())))?;
                executed.push(ExecutedStep {
                    kernel: kernel.to_owned(),
                    step: "install_packages",
                    target: c.prefix.clone(),
                    seconds: started.elapsed().as_secs_f64(),
                });
            }
        }
    }
    Ok(created)
}

fn run_install(
    i: &InstallStep,
    cancel: &CancelToken,
    progress: &dyn Progress,
    journal: &mut Journal,
) -> StepResult {
    let action = describe(&Step::InstallPackages(i.clone()));
    if i.into_existing {
        journal
            .record(JournalEntry::PackagesInstalled {
                prefix: i.prefix.clone(),
                packages: i.conda.iter().chain(&i.pip).cloned().collect(),
            })
            .map_err(|e| Box::new((action.clone(), journal_failure(journal, e))))?;
    }
    for a in &i.actions {
        match a {
            InstallAction::Conda {
                driver,
                specs,
                channels,
            } => {
                progress.step(&format!(
                    "Installing {} into {} with {}",
                    specs.join(" "),
                    i.prefix.display(),
                    driver.tool().flavor.command_name()
                ));
                driver
                    .install(&i.prefix, specs, channels, false, cancel, &Lines(progress))
                    .map_err(|e| Box::new((action.clone(), e.into())))?;
            }
            InstallAction::Tool(cmd) => {
                check_own_interpreter(&i.prefix).map_err(|e| Box::new((action.clone(), e)))?;
                let tool = cmd
                    .program()
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let via = if tool == "uv" { "uv" } else { "pip" };
                progress.step(&format!(
                    "Installing {} into {} with {via}",
                    i.pip.join(" "),
                    i.prefix.display()
                ));
                envs::run_checked(cmd, cancel, &Lines(progress))
                    .map(|_| ())
                    .map_err(|source| {
                        Box::new((
                            action.clone(),
                            EnvError::Process {
                                action: format!("{via} install"),
                                source,
                            }
                            .into(),
                        ))
                    })?;
            }
            InstallAction::Venv { driver, base, pkgs } => {
                check_own_interpreter(&i.prefix).map_err(|e| Box::new((action.clone(), e)))?;
                install_into_venv(i, driver, base.as_deref(), pkgs, cancel, progress)
                    .map_err(|e| Box::new((action.clone(), e.into())))?;
            }
        }
    }
    Ok(())
}

/// Packages into a venv with the installer `add` would choose (provisioning kernels' own uv
/// when needed; every fallback is a one-line notice).
fn install_into_venv(
    i: &InstallStep,
    driver: &envs::VenvDriver,
    base: Option<&Path>,
    pkgs: &envs::PipInstall,
    cancel: &CancelToken,
    progress: &dyn Progress,
) -> Result<(), EnvError> {
    let notice = |m: &str| progress.step(m);
    let installer = driver.choose_install_installer(base, cancel, &Lines(progress), &notice)?;
    let via = match installer {
        envs::VenvInstaller::Uv(_) => "uv",
        envs::VenvInstaller::OwnUv { .. } => "kernels' own uv",
        envs::VenvInstaller::Pip => "pip",
    };
    progress.step(&format!(
        "Installing {} into {} with {via}",
        i.pip.join(" "),
        i.prefix.display()
    ));
    driver.install(&installer, &i.prefix, pkgs, cancel, &Lines(progress))
}

/// Deletes an environment that `kernels` created (for `remove --with-env`, `apply --prune`):
/// through its conda-family tool when one is found (which also unregisters it), else by
/// deleting the directory. The caller checks [`crate::ManagedMeta::env_created`] and the
/// policy ([`crate::Policy::check_remove_env`]) first.
pub fn delete_env(
    prefix: &Path,
    backend: BackendLabel,
    tools: &Tools,
    host: &HostEnv,
    cancel: &CancelToken,
) -> Result<(), EnvError> {
    let conda_tool = tools
        .conda
        .clone()
        .filter(|_| backend.kind().is_some_and(|k| k != BackendKind::Venv));
    match conda_tool {
        Some(tool) if prefix.join("conda-meta").is_dir() => envs::CondaDriver::new(tool, host)
            .remove_env(prefix, cancel, &envs::NoObserver)
            .map(|_| ()),
        _ => {
            envs::check_not_frozen(prefix)?;
            envs::remove_prefix(prefix)
        }
    }
}
