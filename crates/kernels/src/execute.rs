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
    BackendKind, CancelToken, EnvError, EnvKind, Event, HostEnv, Language, LineForwarder, Prefix,
    Progress, Step as EnvStep, ToolName, Tools,
};
use kernelspec::{InstallError, InstallRequest};
use serde::Serialize;

use crate::journal::{
    backup_kernel_dir, missing_ancestors, remove_empty, Journal, JournalEntry, RollbackReport,
};
use crate::plan::{
    CreateEnvStep, InstallAction, InstallStep, KernelPlan, KernelStatus, Plan, Step,
};
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
    /// How long the whole run took.
    pub seconds: f64,
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
    pub env: Prefix,
    /// The kernel.json written, when one was.
    pub kernel_json: Option<String>,
    /// What the environment holds after the run (`None` when it could not be read).
    pub contents: Option<EnvContents>,
}

/// What an environment holds, read from disk after a run (conda-meta records and
/// `*.dist-info` directories; no tool is started), for the closing line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvContents {
    /// What kind of environment: `conda`, `venv` or `other` (a prefix with a `bin/python`).
    pub kind: &'static str,
    /// The Python version.
    pub python: Option<String>,
    /// The ipykernel version.
    pub ipykernel: Option<String>,
    /// How many packages are installed (conda packages, else Python distributions).
    pub packages: usize,
}

impl EnvContents {
    /// The contents as `facts` read them.
    pub fn of(facts: &EnvFacts) -> EnvContents {
        let conda = matches!(facts.env.kind, EnvKind::Conda | EnvKind::CondaBase);
        EnvContents {
            kind: match facts.env.kind {
                EnvKind::Conda | EnvKind::CondaBase => "conda",
                EnvKind::Venv => "venv",
                EnvKind::Unknown => "other",
            },
            python: facts.python_version.clone(),
            ipykernel: facts.ipykernel.as_ref().and_then(|p| p.version.clone()),
            packages: if conda {
                facts.conda_names.len()
            } else {
                facts.pip_names.len()
            },
        }
    }
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
        prefix: Prefix,
    },
    /// Something appeared at a new environment's prefix after the plan was made.
    #[error("{} is no longer free (something was put there after the plan was made); it was not touched", prefix.display())]
    TargetOccupied {
        /// The prefix.
        prefix: Prefix,
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
        prefix: Prefix,
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

type StepResult = Result<(), Box<(String, ExecFailure)>>;

/// Where a run stopped: the kernel it was working on, the action under way, and why.
struct Stopped {
    kernel: String,
    action: String,
    cause: ExecFailure,
}

impl Stopped {
    fn new(kernel: impl ToString, action: String, cause: ExecFailure) -> Box<Self> {
        Box::new(Stopped {
            kernel: kernel.to_string(),
            action,
            cause,
        })
    }
}

/// Runs `plan` (see the module docs). `snap` must be the snapshot the plan was made from.
pub fn execute(
    plan: &Plan,
    snap: &Snapshot,
    cancel: &CancelToken,
    progress: &dyn Progress,
) -> Result<Outcome, Box<ExecuteError>> {
    let run_started = Instant::now();
    let lock_config = crate::LockConfig::from_host(&snap.host);
    let state_dir = lock_config
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut journal = Journal::durable(&state_dir);
    let mut executed = Vec::new();
    let mut locks = PrefixLocks::default();

    let result = take_prefix_locks(plan, lock_config.timeout, cancel, &mut locks)
        .and_then(|()| {
            let mut run = EnvRun {
                snap,
                cancel,
                progress,
                journal: &mut journal,
                executed: &mut executed,
                locks: &mut locks,
            };
            plan.kernels.iter().try_for_each(|k| run.env_steps(k))
        })
        .and_then(|()| {
            let write = |k: &KernelPlan| {
                write_kernel(k, snap, cancel, progress, &mut journal, &mut executed).map_err(|e| {
                    let (action, cause) = *e;
                    Stopped::new(&k.name, action, cause)
                })
            };
            plan.kernels
                .iter()
                .map(write)
                .collect::<Result<Vec<_>, _>>()
        });
    match result {
        Ok(kernels) => {
            journal.commit();
            drop(locks);
            Ok(Outcome {
                kernels,
                executed,
                seconds: run_started.elapsed().as_secs_f64(),
            })
        }
        Err(stopped) => {
            let rollback = journal.rollback();
            locks.release_after_rollback(&snap.host);
            Err(Box::new(ExecuteError {
                kernel: stopped.kernel,
                action: stopped.action,
                cause: stopped.cause,
                rollback,
            }))
        }
    }
}

/// Takes the lock of each prefix the plan creates an environment at, so that concurrent runs
/// (other users too) on a new environment's prefix wait for each other.
fn take_prefix_locks(
    plan: &Plan,
    timeout: std::time::Duration,
    cancel: &CancelToken,
    locks: &mut PrefixLocks,
) -> Result<(), Box<Stopped>> {
    for (kernel, prefix) in prefixes_to_create(plan) {
        if let Err(e) = locks.take(&prefix, timeout, cancel) {
            let action = format!("locking the environment prefix {}", prefix.display());
            return Err(Stopped::new(kernel, action, e.into()));
        }
    }
    Ok(())
}

/// What the environment steps of a run share: the snapshot, the cancel token, the progress
/// sink, and what the run has done so far (journal, executed steps, prefix locks).
struct EnvRun<'a> {
    snap: &'a Snapshot,
    cancel: &'a CancelToken,
    progress: &'a dyn Progress,
    journal: &'a mut Journal,
    executed: &'a mut Vec<ExecutedStep>,
    locks: &'a mut PrefixLocks,
}

impl EnvRun<'_> {
    /// Runs the environment steps of kernel `k` in order (create, install), each timed,
    /// reported as finished and recorded as executed; stops at the first that fails or when
    /// the run is cancelled.
    fn env_steps(&mut self, k: &KernelPlan) -> Result<(), Box<Stopped>> {
        for step in k.env_steps() {
            if self.cancel.is_cancelled() {
                let action = format!("{} (before it started)", describe(step));
                return Err(Stopped::new(&k.name, action, ExecFailure::Interrupted));
            }
            let started = Instant::now();
            self.env_step(k, step).map_err(|e| {
                let (action, cause) = *e;
                Stopped::new(&k.name, action, cause)
            })?;
            if !matches!(step, Step::WriteKernel(_)) {
                self.progress.event(&Event::Finished {
                    elapsed: started.elapsed(),
                });
            }
            self.executed.push(ExecutedStep {
                kernel: k.name.to_string(),
                step: step.kind(),
                target: match step {
                    Step::CreateEnv(c) => c.prefix.to_path_buf(),
                    Step::InstallPackages(i) => i.prefix.to_path_buf(),
                    Step::WriteKernel(w) => w.dir.clone(),
                },
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        Ok(())
    }

    /// Runs one environment step of kernel `k`; a kernelspec step waits for `write_kernel`.
    fn env_step(&mut self, k: &KernelPlan, step: &Step) -> StepResult {
        match step {
            Step::CreateEnv(c) => run_create(
                c,
                k.language,
                &self.snap.host,
                self.cancel,
                self.progress,
                self.journal,
                self.executed,
                k.name.as_str(),
            )
            .map(|created| self.locks.created.extend(created)),
            Step::InstallPackages(i) => {
                run_install(i, &self.snap.host, self.cancel, self.progress, self.journal)
            }
            Step::WriteKernel(_) => Ok(()),
        }
    }
}

/// The kernelspec step of one kernel (when it has one): computed from the environment as it
/// is now, skipped when the one there already matches, else backed up, journaled, written.
fn write_kernel(
    k: &KernelPlan,
    snap: &Snapshot,
    cancel: &CancelToken,
    progress: &dyn Progress,
    journal: &mut Journal,
    executed: &mut Vec<ExecutedStep>,
) -> Result<KernelOutcome, Box<(String, ExecFailure)>> {
    let outcome = |kernel_json, facts: Option<&EnvFacts>| KernelOutcome {
        name: k.name.to_string(),
        status: k.status,
        kernel_dir: k.kernel_dir.clone(),
        env: k.env.prefix.clone(),
        kernel_json,
        contents: facts.map(EnvContents::of),
    };
    let (Some(w), Some(spec_request)) = (k.write_step(), &k.spec_request) else {
        let facts = EnvFacts::read(&k.env.prefix, &snap.host);
        return Ok(outcome(None, facts.as_ref()));
    };
    let action = format!("writing the kernelspec {}", w.dir.display());
    let fail = |cause: ExecFailure| Box::new((action.clone(), cause));
    if cancel.is_cancelled() {
        return Err(fail(ExecFailure::Interrupted));
    }
    let started = Instant::now();
    let facts = EnvFacts::read(&k.env.prefix, &snap.host).ok_or_else(|| {
        fail(ExecFailure::EnvMissing {
            prefix: k.env.prefix.clone(),
        })
    })?;
    let desired = spec_for_env(spec_request, &facts).map_err(|e| fail(e.into()))?;
    // A predicted kernelspec may turn out to be the one already there.
    let unchanged = kernelspec::KernelSpec::load(&w.dir.join("kernel.json"))
        .is_ok_and(|existing| desired.matches(&existing, &w.dir));
    if unchanged {
        return Ok(outcome(None, Some(&facts)));
    }
    let backup = if std::fs::symlink_metadata(&w.dir).is_ok() {
        Some(backup_kernel_dir(&w.dir).map_err(|source| {
            fail(ExecFailure::Backup {
                dir: w.dir.clone(),
                source,
            })
        })?)
    } else {
        None
    };
    journal
        .record(JournalEntry::KernelWritten {
            dir: w.dir.clone(),
            backup,
            new_parents: missing_ancestors(&w.dir),
        })
        .map_err(|source| fail(journal_failure(journal, source)))?;
    progress.event(&Event::Started(&EnvStep::WriteKernel {
        name: k.name.to_string(),
        dir: w.dir.clone(),
    }));
    let req = InstallRequest {
        name: &k.name,
        spec: &desired.spec,
        kernels_dir: w.dir.parent().unwrap_or(Path::new(".")),
        resources: desired.resources.clone(),
        replace: true,
    };
    match kernelspec::install(&req) {
        Ok(_) | Err(InstallError::LeftoverOld { .. }) => {}
        Err(e) => return Err(fail(e.into())),
    }
    progress.event(&Event::Finished {
        elapsed: started.elapsed(),
    });
    executed.push(ExecutedStep {
        kernel: k.name.to_string(),
        step: "write_kernel",
        target: w.dir.clone(),
        seconds: started.elapsed().as_secs_f64(),
    });
    Ok(outcome(Some(desired.spec.to_file_string()), Some(&facts)))
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
    created: Vec<Prefix>,
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
fn prefixes_to_create(plan: &Plan) -> Vec<(String, Prefix)> {
    let mut out: Vec<(String, Prefix)> = Vec::new();
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
fn check_own_interpreter(prefix: &Prefix) -> Result<(), ExecFailure> {
    let fail = |why: &str| ExecFailure::NotItsInterpreter {
        prefix: prefix.clone(),
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
) -> Result<Option<Prefix>, Box<(String, ExecFailure)>> {
    let action = describe(&Step::CreateEnv(c.clone()));
    let fail = |cause: ExecFailure| Box::new((action.clone(), cause));
    let backend = envs::backend_for(c.backend, &c.tools, host).map_err(|e| fail(e.into()))?;
    // conda registers what it creates in ~/.conda/environments.txt; a rollback unregisters.
    let registry = c
        .backend
        .is_conda()
        .then(|| host.conda_registry())
        .flatten();
    let entry = JournalEntry::EnvCreated {
        prefix: c.prefix.to_path_buf(),
        was_empty_dir: c.prefix.is_dir() && !c.rebuilds,
        new_parents: missing_ancestors(&c.prefix),
        registry,
    };
    if c.rebuilds {
        // A half-made environment of this user's (the plan saw its guard and records):
        // journaled first, so a run killed while deleting it leaves it to the next run.
        check_still_half_made(host, &c.prefix).map_err(&fail)?;
        journal
            .record(entry)
            .map_err(|e| fail(journal_failure(journal, e)))?;
        envs::remove_prefix(&c.prefix).map_err(|e| fail(e.into()))?;
    } else {
        // The plan saw nothing (or an empty directory) here; make sure that is still so
        // before anything is journaled for deletion.
        if envs::check_create_target(&c.prefix).is_err() {
            return Err(fail(ExecFailure::TargetOccupied {
                prefix: c.prefix.clone(),
            }));
        }
        journal
            .record(entry)
            .map_err(|e| fail(journal_failure(journal, e)))?;
    }
    let label = BackendLabel::created_by(c.backend, c.uv);
    let early_guard = crate::guard::tool_keeps_guard(c.backend, &c.tools);
    claim_prefix(host, &c.prefix, label, early_guard).map_err(&fail)?;
    let env = backend
        .create(&c.create, cancel, progress)
        .map_err(|e| fail(e.into()))?;
    if !early_guard {
        write_guard(&c.prefix, label).map_err(&fail)?;
    }
    let created = Prefix::canonical(&c.prefix).ok();
    // An environment file may leave out the kernel package; add it in one more call.
    if c.create.environment_file.is_some() {
        let ctx = ToolCtx {
            host,
            cancel,
            progress,
        };
        add_kernel_package(c, &*backend, &env, language, &ctx, executed, kernel).map_err(&fail)?;
    }
    // Complete: the guard says so (durably) before any kernelspec names the environment.
    crate::guard::mark_ready(&c.prefix, label).map_err(|e| {
        fail(ExecFailure::Io {
            action: "record that the environment is complete in",
            path: c.prefix.join(crate::ENV_MARKER),
            source: e,
        })
    })?;
    Ok(created)
}

/// What a tool run needs from the executor.
struct ToolCtx<'a> {
    host: &'a HostEnv,
    cancel: &'a CancelToken,
    progress: &'a dyn Progress,
}

/// After a create from an environment file: installs the kernel package (ipykernel, or
/// IRkernel) when the file left it out, through the backend that created `env`.
fn add_kernel_package(
    c: &CreateEnvStep,
    backend: &dyn envs::Backend,
    env: &envs::Environment,
    language: Language,
    ctx: &ToolCtx<'_>,
    executed: &mut Vec<ExecutedStep>,
    kernel: &str,
) -> Result<(), ExecFailure> {
    let started = Instant::now();
    let facts = EnvFacts::read(&c.prefix, ctx.host).ok_or_else(|| ExecFailure::EnvMissing {
        prefix: c.prefix.clone(),
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
    // Only the conda family reads environment files (venv refuses them at create).
    if !specs.is_empty() && backend.kind().is_conda() {
        let pkgs = envs::PackageSet {
            conda: specs,
            pip: Vec::new(),
        };
        backend.install(env, &pkgs, &c.create.channels, ctx.cancel, ctx.progress)?;
        executed.push(ExecutedStep {
            kernel: kernel.to_owned(),
            step: "install_packages",
            target: c.prefix.to_path_buf(),
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    Ok(())
}

/// Makes the prefix directory (this run's, from its first byte), records in the user's
/// state dir that this run created it, and, when the tool keeps it, writes the guard
/// *installing* into it (see [`crate::guard`]); all before the tool writes anything there.
fn claim_prefix(
    host: &HostEnv,
    prefix: &Path,
    label: BackendLabel,
    guard_now: bool,
) -> Result<(), ExecFailure> {
    std::fs::create_dir_all(prefix).map_err(|source| ExecFailure::Io {
        action: "create the environment directory",
        path: prefix.to_path_buf(),
        source,
    })?;
    crate::ownership::record_created(host, prefix, label)?;
    if guard_now {
        write_guard(prefix, label)?;
    }
    Ok(())
}

fn write_guard(prefix: &Path, label: BackendLabel) -> Result<(), ExecFailure> {
    crate::guard::write_installing(prefix, label).map_err(|source| ExecFailure::Io {
        action: "record that kernels is creating the environment in",
        path: prefix.join(crate::ENV_MARKER),
        source,
    })
}

/// Before a half-made environment is deleted to be made again: it must still be half-made
/// and this user's own (the plan's reading may be stale).
fn check_still_half_made(host: &HostEnv, prefix: &Prefix) -> Result<(), ExecFailure> {
    let ours = crate::ownership::check_deletable(host, prefix).is_ok();
    if ours && crate::guard::is_half_made(prefix) {
        Ok(())
    } else {
        Err(ExecFailure::TargetOccupied {
            prefix: prefix.clone(),
        })
    }
}

fn run_install(
    i: &InstallStep,
    host: &HostEnv,
    cancel: &CancelToken,
    progress: &dyn Progress,
    journal: &mut Journal,
) -> StepResult {
    let action = describe(&Step::InstallPackages(i.clone()));
    if i.into_existing {
        journal
            .record(JournalEntry::PackagesInstalled {
                prefix: i.prefix.to_path_buf(),
                packages: i.conda.iter().chain(&i.pip).cloned().collect(),
            })
            .map_err(|e| Box::new((action.clone(), journal_failure(journal, e))))?;
    }
    for a in &i.actions {
        match a {
            InstallAction::Conda {
                backend,
                tools,
                env,
                pkgs,
                channels,
            } => envs::backend_for(*backend, tools, host)
                .and_then(|b| b.install(env, pkgs, channels, cancel, progress))
                .map_err(|e| Box::new((action.clone(), e.into())))?,
            InstallAction::Pip { cmd } => {
                check_own_interpreter(&i.prefix).map_err(|e| Box::new((action.clone(), e)))?;
                progress.event(&Event::Started(&EnvStep::InstallPackages {
                    prefix: i.prefix.to_path_buf(),
                    packages: i.pip.clone(),
                    tool: ToolName::Pip,
                }));
                envs::run_checked(cmd, cancel, &LineForwarder::all(progress))
                    .map(|_| ())
                    .map_err(|source| {
                        Box::new((
                            action.clone(),
                            EnvError::Process {
                                action: "pip install".to_owned(),
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
    let installer = driver.choose_install_installer(base, cancel, progress)?;
    progress.event(&Event::Started(&EnvStep::InstallPackages {
        prefix: i.prefix.to_path_buf(),
        packages: i.pip.clone(),
        tool: match installer {
            envs::VenvInstaller::Uv(_) => ToolName::Uv,
            envs::VenvInstaller::OwnUv { .. } => ToolName::OwnUv,
            envs::VenvInstaller::Pip => ToolName::Pip,
        },
    }));
    driver.install(
        &installer,
        &i.prefix,
        pkgs,
        cancel,
        &LineForwarder::all(progress),
    )
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
        .filter(|_| backend.kind().is_some_and(BackendKind::is_conda));
    match conda_tool {
        Some(tool) if prefix.join("conda-meta").is_dir() => {
            envs::backend_for(BackendKind::from_flavor(tool.flavor), tools, host)?
                .remove(prefix, cancel)
        }
        _ => {
            envs::check_not_frozen(prefix)?;
            envs::remove_prefix(prefix)?;
            // No conda ran to unregister it (a rattler environment on a machine without
            // conda): drop its line from conda's registry as conda's remove would.
            let conda_made = backend.kind().is_some_and(BackendKind::is_conda);
            if let Some(registry) = host.conda_registry().filter(|_| conda_made) {
                crate::journal::unregister_conda_env(&registry, prefix);
            }
            Ok(())
        }
    }
}
