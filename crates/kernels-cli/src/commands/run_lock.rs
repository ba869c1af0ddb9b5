//! The per-user run lock as commands take it: wait (saying so once), finish a dead run's
//! journal, map a lock error to its exit code.

use std::path::{Path, PathBuf};

use kernels::{LockConfig, LockError, RunLock};

use super::Ctx;
use crate::exit::{Code, Failure};

/// Takes this user's run lock, telling the user once when it has to wait for another run.
pub fn take_lock(ctx: &Ctx) -> Result<RunLock, Failure> {
    take_lock_at(ctx, &LockConfig::from_host(ctx.host()))
}

/// Takes the run lock described by `cfg` (`apply --for-user` locks the target user's).
pub fn take_lock_at(ctx: &Ctx, cfg: &LockConfig) -> Result<RunLock, Failure> {
    take_lock_finishing(ctx, cfg).map(|(lock, _)| lock)
}

/// Takes this user's run lock like [`take_lock`], and returns the kernelspec directories
/// whose removal a dead run had started and this call finished (for `remove`, whose re-run
/// then knows those kernels are gone on purpose).
pub fn take_lock_for_removal(ctx: &Ctx) -> Result<(RunLock, Vec<PathBuf>), Failure> {
    take_lock_finishing(ctx, &LockConfig::from_host(ctx.host()))
}

fn take_lock_finishing(ctx: &Ctx, cfg: &LockConfig) -> Result<(RunLock, Vec<PathBuf>), Failure> {
    let out = &ctx.out;
    let lock = RunLock::acquire(cfg, &ctx.cancel, &mut |pid| {
        let who = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
        out.status(&format!("waiting for another kernels run{who}…"));
    })
    .map_err(lock_failure)?;
    let removed = match cfg.path.parent() {
        Some(state_dir) => finish_unfinished_run(ctx, state_dir),
        None => Vec::new(),
    };
    Ok((lock, removed))
}

/// A run killed outright leaves its journal behind; the next run that takes the lock rolls
/// it back first (or completes it, when it had started deleting an environment), and says
/// what it did (`kernels doctor` reports one it cannot finish).
fn finish_unfinished_run(ctx: &Ctx, state_dir: &Path) -> Vec<PathBuf> {
    match kernels::recover(state_dir) {
        Ok(None) => Vec::new(),
        Ok(Some(r)) => {
            let what = if r.report.completed.is_empty() {
                "rolled it back"
            } else {
                "finished what it had started deleting"
            };
            ctx.out.warn(&format!(
                "an earlier kernels run (pid {}) stopped before it finished; {what}",
                r.pid
            ));
            for line in &r.report.completed {
                ctx.out.warn(&format!("completed: {line}"));
            }
            for line in &r.report.undone {
                ctx.out.warn(&format!("rolled back: {line}"));
            }
            for line in &r.report.kept {
                ctx.out.warn(&format!("kept: {line}"));
            }
            for line in &r.report.failed {
                ctx.out.warn(&format!("rollback failed: {line}"));
            }
            r.report.removed_kernels
        }
        Err(e) => {
            ctx.out.warn(&boot::error_chain(&e));
            Vec::new()
        }
    }
}

/// A lock error as the user sees it: busy is exit 5.
pub fn lock_failure(err: LockError) -> Failure {
    let code = match &err {
        LockError::Busy { .. } => Code::Busy,
        LockError::Interrupted { .. } => Code::Interrupted,
        LockError::Io { .. } => Code::Failed,
    };
    let cause = match &err {
        LockError::Busy { holder, .. } => format!(
            "another kernels run is busy{}",
            holder.map(|p| format!(" (pid {p})")).unwrap_or_default()
        ),
        other => boot::error_chain(other),
    };
    Failure::new(code, cause).maybe_hint(err.hint())
}
