//! The core's errors as the user sees them: exit code, cause, hint, and what a rollback did.

use kernels::deletion::DeleteError;
use kernels::prefix_lock::PrefixLockError;
use kernels::removal::{RemovalCause, RemovalError};
use kernels::{ExecuteError, PlanError, RollbackReport};
use kernelspec::RemoveError;

use crate::exit::{Code, Failure};

/// A planning error: a request that is wrong in itself is a usage error (2), a PEP 668
/// refusal is 3, the rest 1.
pub fn plan_failure(err: PlanError) -> Failure {
    let code = if err.is_usage() {
        Code::Usage
    } else if err.is_refusal() {
        Code::Refused
    } else {
        Code::Failed
    };
    let hint = err.hint();
    Failure::from_error(code, err).maybe_hint(hint)
}

/// A policy refusal: exit 3 with the policy's hint (every command that asks the policy).
pub fn refusal_failure(err: &kernels::policy::Refusal) -> Failure {
    Failure::new(Code::Refused, err.to_string()).hint(err.hint())
}

/// A failed run: what failed and why (the tool's own error, summarised by the renderer),
/// then what the rollback did; exit 1, or 130 when it was interrupted. Takes the box
/// [`kernels::execute`] returns, so it can be passed to `map_err` as it is.
#[allow(clippy::boxed_local)]
pub fn execute_failure(mut err: Box<ExecuteError>) -> Failure {
    let hint = err.hint();
    let mut r = std::mem::take(&mut err.rollback);
    let unchanged = match &err.cause {
        kernels::ExecFailure::Env(e) => envs::tool_error::stopped_before_changes(e),
        _ => false,
    } && !r.kept.is_empty();
    if unchanged {
        // The newest journal entry is the failed install, and the tool changed nothing:
        // "whatever the installer put in stays" would be untrue.
        r.kept.remove(0);
    }
    let mut failure = if err.is_interrupted() {
        Failure::new(
            Code::Interrupted,
            format!("interrupted while {}", err.action),
        )
    } else if err.is_busy() {
        Failure::from_error(Code::Busy, *err)
    } else {
        Failure::from_error(Code::Failed, *err)
    };
    let unchanged =
        unchanged.then_some("unchanged: the installer stopped before changing the environment");
    failure.notes.extend(rollback_notes(&r, unchanged));
    failure.maybe_hint(hint)
}

/// A failed removal (`remove`, `prune`, `apply --prune`): the step that failed and why,
/// then exactly what state things are in (what was put back, what is gone for good).
#[allow(clippy::boxed_local)]
pub fn removal_failure(
    mut err: Box<RemovalError>,
    show: &dyn Fn(&std::path::Path) -> String,
) -> Failure {
    let notes = rollback_notes(&std::mem::take(&mut err.rollback), None);
    let mut failure = match &err.cause {
        RemovalCause::Interrupted => Failure::new(
            Code::Interrupted,
            format!("interrupted before {}", err.action),
        ),
        RemovalCause::Kernel(RemoveError::PermissionDenied { path, .. }) => Failure::failed(
            format!("{} failed: permission denied on {}", err.action, show(path)),
        )
        .hint(
            "it is in a directory you cannot write (a system or shared kernel dir); \
                 run as an administrator, or leave it",
        ),
        cause => {
            let (code, hint) = match cause {
                RemovalCause::Env(e @ DeleteError::Lock(PrefixLockError::Busy { .. })) => {
                    (Code::Busy, e.hint())
                }
                RemovalCause::Env(e) => (Code::Failed, e.hint()),
                _ => (Code::Failed, None),
            };
            Failure::from_error(code, *err).maybe_hint(hint)
        }
    };
    failure.notes.extend(notes);
    failure
}

/// A rollback's report as note lines: `rolled back:`, then `extra`, `kept:`,
/// `rollback failed:`.
fn rollback_notes(r: &RollbackReport, extra: Option<&str>) -> Vec<String> {
    (r.undone.iter().map(|l| format!("rolled back: {l}")))
        .chain(extra.map(str::to_owned))
        .chain(r.kept.iter().map(|l| format!("kept: {l}")))
        .chain(r.failed.iter().map(|l| format!("rollback failed: {l}")))
        .collect()
}
