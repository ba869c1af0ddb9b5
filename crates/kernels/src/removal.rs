//! Removing kernelspecs, and the environments `kernels` made for them, as one plan executed
//! through the durable journal: `remove`, `remove --with-env`, `prune` and `apply --prune`.
//!
//! A [`RemovalPlan`] is made first (and shown by `--dry-run`/`--json`), checked against the
//! policy by whoever builds it, then [`execute_removal`] runs its steps in order:
//!
//! 1. every kernelspec, each copied aside and journaled ([`JournalEntry::KernelRemoved`])
//!    before it is removed: undoable;
//! 2. then every environment, journaled ([`JournalEntry::EnvDeleting`]) after its prefix
//!    lock is held and its ownership re-checked, right before it is deleted: irreversible.
//!
//! A failure rolls the journal back: the kernelspecs come back, except those whose
//! environment this run already deleted (the report says which, and what state each
//! environment is in). A run killed while deleting an environment is completed by the next
//! run ([`crate::recover`]), so nothing is half-left.

use std::path::{Path, PathBuf};
use std::time::Duration;

use envs::{CancelToken, HostEnv, Tools};
use kernelspec::RemoveError;
use serde::Serialize;

use crate::deletion::{DeleteError, EnvDeletion};
use crate::journal::{backup_kernel_dir, Journal, JournalEntry, RollbackReport};
use crate::prefix_lock::PrefixLock;

/// One kernelspec to remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelRemoval {
    /// The kernel name.
    pub name: String,
    /// Its spec directory.
    #[serde(rename = "target", serialize_with = "crate::serde_util::path")]
    pub dir: PathBuf,
    /// Where that directory comes from (`user`, `system`, ...).
    pub scope: &'static str,
    /// The canonical prefix of the environment this plan deletes with it, if any.
    #[serde(skip)]
    pub env: Option<PathBuf>,
}

/// One step of a removal, in the order it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum RemovalStep {
    /// Remove a kernelspec (undoable until the run commits).
    RemoveKernel(KernelRemoval),
    /// Delete an environment (irreversible).
    DeleteEnv(EnvDeletion),
}

/// The steps of a removal: kernelspecs first, then environments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RemovalPlan {
    /// The steps, in order.
    pub steps: Vec<RemovalStep>,
}

impl RemovalPlan {
    /// A plan removing `kernels`, then deleting `envs` (the undoable steps before the
    /// irreversible ones).
    pub fn new(kernels: Vec<KernelRemoval>, envs: Vec<EnvDeletion>) -> RemovalPlan {
        let steps = kernels
            .into_iter()
            .map(RemovalStep::RemoveKernel)
            .chain(envs.into_iter().map(RemovalStep::DeleteEnv))
            .collect();
        RemovalPlan { steps }
    }

    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The kernelspecs it removes.
    pub fn kernels(&self) -> impl Iterator<Item = &KernelRemoval> {
        self.steps.iter().filter_map(|s| match s {
            RemovalStep::RemoveKernel(k) => Some(k),
            RemovalStep::DeleteEnv(_) => None,
        })
    }

    /// The environments it deletes.
    pub fn envs(&self) -> impl Iterator<Item = &EnvDeletion> {
        self.steps.iter().filter_map(|s| match s {
            RemovalStep::DeleteEnv(d) => Some(d),
            RemovalStep::RemoveKernel(_) => None,
        })
    }
}

/// What the executor needs besides the plan.
pub struct RemovalContext<'a> {
    /// The user's state directory (the journal goes there).
    pub state_dir: PathBuf,
    /// The tools (conda removes the environments it made).
    pub tools: &'a Tools,
    /// The environment of the run.
    pub host: &'a HostEnv,
    /// Ctrl-C.
    pub cancel: &'a CancelToken,
    /// How long to wait for an environment's prefix lock.
    pub lock_timeout: Duration,
}

impl<'a> RemovalContext<'a> {
    /// The context of a run for the user of `host`: its state directory and lock timeout
    /// ([`crate::LockConfig`]).
    pub fn new(host: &'a HostEnv, tools: &'a Tools, cancel: &'a CancelToken) -> Self {
        let lock = crate::LockConfig::from_host(host);
        RemovalContext {
            state_dir: lock
                .path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            tools,
            host,
            cancel,
            lock_timeout: lock.timeout,
        }
    }
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum RemovalCause {
    /// The kernelspec could not be removed.
    #[error(transparent)]
    Kernel(#[from] RemoveError),
    /// The environment could not be deleted.
    #[error(transparent)]
    Env(#[from] DeleteError),
    /// The journal, or the kernelspec's backup, could not be written; the step did not start.
    #[error("could not record the step before making it: {0}")]
    Journal(#[source] std::io::Error),
    /// Ctrl-C or SIGTERM before the step.
    #[error("interrupted")]
    Interrupted,
}

/// A removal that failed, and what its rollback did.
#[derive(Debug, thiserror::Error)]
#[error("{action} failed")]
pub struct RemovalError {
    /// The step that failed, as a phrase ("removing kernel `x`").
    pub action: String,
    /// Why.
    #[source]
    pub cause: RemovalCause,
    /// What the rollback undid, kept (an environment deleted cannot come back) or failed.
    pub rollback: RollbackReport,
}

impl RemovalError {
    /// The removal failed for lack of permission (a system or another user's directory).
    pub fn permission_denied(&self) -> bool {
        matches!(
            self.cause,
            RemovalCause::Kernel(RemoveError::PermissionDenied { .. })
        )
    }
}

/// Runs `plan` (see the module docs); `done` is told about each step once it is done.
pub fn execute_removal(
    plan: &RemovalPlan,
    ctx: &RemovalContext<'_>,
    done: &mut dyn FnMut(&RemovalStep),
) -> Result<(), Box<RemovalError>> {
    let mut journal = Journal::durable(&ctx.state_dir);
    for step in &plan.steps {
        let result = if ctx.cancel.is_cancelled() {
            Err(RemovalCause::Interrupted)
        } else {
            match step {
                RemovalStep::RemoveKernel(k) => remove_kernel(k, &mut journal),
                RemovalStep::DeleteEnv(d) => delete_env(d, ctx, &mut journal),
            }
        };
        if let Err(cause) = result {
            return Err(Box::new(RemovalError {
                action: action(step),
                cause,
                rollback: journal.rollback(),
            }));
        }
        done(step);
    }
    journal.commit();
    Ok(())
}

fn action(step: &RemovalStep) -> String {
    match step {
        RemovalStep::RemoveKernel(k) => format!("removing kernel `{}`", k.name),
        RemovalStep::DeleteEnv(d) => format!("deleting environment {}", d.prefix.display()),
    }
}

fn remove_kernel(k: &KernelRemoval, journal: &mut Journal) -> Result<(), RemovalCause> {
    let backup = backup_kernel_dir(&k.dir).map_err(RemovalCause::Journal)?;
    let entry = JournalEntry::KernelRemoved {
        dir: k.dir.clone(),
        backup: backup.clone(),
        env: k.env.clone(),
    };
    if let Err(e) = journal.record(entry) {
        let _ = std::fs::remove_dir_all(&backup);
        return Err(RemovalCause::Journal(e));
    }
    kernelspec::remove(&k.dir)?;
    Ok(())
}

/// Deletes one environment: under its prefix lock, after checking it is still the one
/// `kernels` created, journaled right before the irreversible part.
fn delete_env(
    d: &EnvDeletion,
    ctx: &RemovalContext<'_>,
    journal: &mut Journal,
) -> Result<(), RemovalCause> {
    let _lock = PrefixLock::acquire(&d.prefix, ctx.lock_timeout, ctx.cancel)
        .map_err(|e| RemovalCause::Env(e.into()))?;
    crate::deletion::recheck(d, ctx.host).map_err(RemovalCause::Env)?;
    let registry = d
        .backend
        .kind()
        .is_some_and(envs::BackendKind::is_conda)
        .then(|| ctx.host.conda_registry())
        .flatten();
    journal
        .record(JournalEntry::EnvDeleting {
            prefix: d.prefix.clone(),
            registry,
        })
        .map_err(RemovalCause::Journal)?;
    crate::delete_env(&d.prefix, d.backend, ctx.tools, ctx.host, ctx.cancel)
        .map_err(|e| RemovalCause::Env(e.into()))?;
    // The environment is gone; a stale record could only ever refuse, never delete.
    let _ = crate::ownership::forget(ctx.host, &d.prefix);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn spec(dir: &Path) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join("kernel.json"), r#"{"argv": ["x"]}"#).unwrap();
    }

    #[test]
    fn a_failed_removal_puts_back_every_kernelspec_it_removed() {
        let t = tempfile::tempdir().unwrap();
        let state = t.path().join("state");
        fs::create_dir_all(&state).unwrap();
        let a = t.path().join("kernels/a");
        spec(&a);
        let missing = t.path().join("kernels/missing");
        let plan = RemovalPlan::new(
            ["a", "missing"]
                .iter()
                .zip([&a, &missing])
                .map(|(n, d)| KernelRemoval {
                    name: n.to_string(),
                    dir: d.clone(),
                    scope: "user",
                    env: None,
                })
                .collect(),
            Vec::new(),
        );
        let host = HostEnv::from_vars([("HOME", t.path().to_str().unwrap())]);
        let tools = envs::locate(&host, envs::BackendChoice::Auto);
        let cancel = CancelToken::new();
        let ctx = RemovalContext {
            state_dir: state.clone(),
            tools: &tools,
            host: &host,
            cancel: &cancel,
            lock_timeout: Duration::from_secs(1),
        };
        let mut seen = Vec::new();
        let err = execute_removal(&plan, &ctx, &mut |s| seen.push(s.clone())).unwrap_err();
        assert_eq!(err.action, "removing kernel `missing`");
        assert_eq!(seen.len(), 1, "the first step ran");
        assert_eq!(
            fs::read_to_string(a.join("kernel.json")).unwrap(),
            r#"{"argv": ["x"]}"#
        );
        assert_eq!(err.rollback.undone.len(), 1, "{:?}", err.rollback);
        assert!(!state.join(crate::JOURNAL_FILE).exists());
    }

    #[test]
    fn a_dead_run_that_was_deleting_an_environment_is_completed_not_undone() {
        let t = tempfile::tempdir().unwrap();
        let state = t.path().join("state");
        fs::create_dir_all(&state).unwrap();
        let k = t.path().join("kernels/k");
        spec(&k);
        let env = t.path().join("env");
        fs::create_dir_all(env.join("bin")).unwrap();
        fs::write(env.join("pyvenv.cfg"), "").unwrap();
        let backup = backup_kernel_dir(&k).unwrap();
        let mut j = Journal::durable(&state);
        j.record(JournalEntry::KernelRemoved {
            dir: k.clone(),
            backup: backup.clone(),
            env: Some(env.clone()),
        })
        .unwrap();
        fs::remove_dir_all(&k).unwrap();
        j.record(JournalEntry::EnvDeleting {
            prefix: env.clone(),
            registry: None,
        })
        .unwrap();
        // Half-deleted when the run died.
        fs::remove_file(env.join("pyvenv.cfg")).unwrap();
        std::mem::forget(j);
        let r = crate::recover(&state).unwrap().unwrap();
        assert!(!env.exists());
        assert!(!k.exists());
        assert!(!backup.exists());
        assert_eq!(r.report.completed.len(), 2, "{:?}", r.report);
        assert!(r.report.undone.is_empty(), "{:?}", r.report);
        assert!(!state.join(crate::JOURNAL_FILE).exists());
    }

    #[test]
    fn after_a_failed_deletion_only_kernels_whose_environment_is_whole_come_back() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("kernels/a"), t.path().join("kernels/b"));
        spec(&a);
        spec(&b);
        let gone = t.path().join("gone");
        let whole = t.path().join("whole");
        fs::create_dir_all(whole.join("bin")).unwrap();
        fs::write(whole.join("bin/python"), "").unwrap();
        fs::write(whole.join("pyvenv.cfg"), "").unwrap();
        let mut j = Journal::new();
        for (dir, env) in [(&a, &gone), (&b, &whole)] {
            j.record(JournalEntry::KernelRemoved {
                dir: dir.clone(),
                backup: backup_kernel_dir(dir).unwrap(),
                env: Some(env.clone()),
            })
            .unwrap();
            fs::remove_dir_all(dir).unwrap();
        }
        for env in [&gone, &whole] {
            j.record(JournalEntry::EnvDeleting {
                prefix: env.clone(),
                registry: None,
            })
            .unwrap();
        }
        // `gone` was deleted; deleting `whole` failed before it changed anything.
        let r = j.rollback();
        assert!(!a.exists(), "its environment is gone: {r:?}");
        assert!(b.join("kernel.json").is_file(), "{r:?}");
        assert!(r.kept.iter().any(|l| l.contains("stays removed")), "{r:?}");
        assert!(r.undone.iter().any(|l| l.contains("put back")), "{r:?}");
        assert!(r.failed.is_empty(), "{r:?}");
    }
}
