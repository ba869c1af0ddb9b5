//! The product logic of `kernels`.
//!
//! Data flows one way: a request (from the CLI or a `kernels.toml`) and a read-only snapshot
//! of the machine go into the pure planner; the plan is checked against the protection policy;
//! apply runs its steps under a lock, journaling each so a failure or an interrupt undoes
//! exactly what this run created.
//!
//! ```no_run
//! use kernels::{execute, plan, KernelRequest, LockConfig, RunLock, Snapshot};
//! use kernelspec::{JupyterPaths, KernelName, PathsInput};
//!
//! let host = envs::HostEnv::from_process();
//! let paths = JupyterPaths::new(&PathsInput::from_process_env());
//! let requests = vec![KernelRequest::new(KernelName::parse("newenv")?)];
//! let cancel = envs::CancelToken::new();
//! let _lock = RunLock::acquire(&LockConfig::from_host(&host), &cancel, &mut |_| {})?;
//! let snapshot = Snapshot::take(&requests, host, paths);
//! let plan = plan(&requests, &snapshot)?;
//! let _warnings = plan.check_policy(&snapshot)?;
//! let outcome = execute(&plan, &snapshot, &cancel, &envs::NoProgress)?;
//! println!("{} steps ran", outcome.executed.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules of the add/apply core, in the order data flows: `request` ([`KernelRequest`]),
//! `snapshot` ([`Snapshot`], [`EnvFacts`]), `plan` ([`plan()`], [`Plan`]), `spec_for_env`
//! (the kernel.json for an environment, [`ManagedMeta`]), `lock` ([`RunLock`]), `journal`
//! ([`Journal`]), `execute` ([`execute()`], [`Outcome`]); [`vars`] lists the variables read.

// Tests may unwrap; library code may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod clone;
pub mod declarative;
pub mod deletion;
pub mod doctor;
pub mod export;
pub mod for_user;
pub mod policy;
pub mod prune;
pub mod rebind;
pub mod removal;
pub mod run;
pub mod wrappers;

mod durable;
mod execute;
pub mod guard;
mod journal;
pub mod lock;
mod marker;
pub mod ownership;
mod plan;
pub mod prefix_lock;
mod request;
mod serde_util;
mod snapshot;
mod spec_for_env;
pub mod vars;

pub use execute::{
    delete_env, execute, EnvContents, ExecFailure, ExecuteError, ExecutedStep, KernelOutcome,
    Outcome,
};
pub use journal::{
    backup_kernel_dir, missing_ancestors, policy_write_entry, recover, unfinished, Journal,
    JournalEntry, Recovery, RecoveryError, RollbackReport, JOURNAL_FILE,
};
pub use lock::{LockConfig, LockError, RunLock};
pub use marker::{read_env_marker, write_env_marker, ENV_MARKER};
pub use plan::{
    plan, CommandView, CreateEnvStep, EnvPlan, InstallStep, KernelPlan, KernelStatus, Plan,
    PlanError, PlanWarning, Replaced, Step, WriteKernelStep,
};
pub use request::{
    is_env_key, parse_env_assignment, BackendChoice, EnvSource, InstallMode, KernelRequest,
    KernelScope, Origin, Packages, RequestError,
};
pub use snapshot::{
    conda_envs_dir, is_system_prefix, CreateWith, EnvFacts, ExistingKernel, InstalledPackage,
    PrefixState, RFacts, Snapshot, TargetFacts,
};
pub use spec_for_env::{
    default_display_name, env_of_spec, major_minor, spec_for_env, ActivationMeta, BackendLabel,
    DesiredKernel, Encryption, IpykernelRules, ManagedMeta, SpecEnv, SpecForEnvError, SpecRequest,
    METADATA_KEY,
};
