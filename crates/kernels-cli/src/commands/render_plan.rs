//! What `add`, `install` and `apply` share: the progress printer, the run lock, rendering a
//! plan (`--dry-run`) and an outcome, the one `--json` document, and the mapping of the
//! core's errors to exit codes and hints.
//!
//! JSON document of a mutating run (stdout, one document):
//! `{"ok": true, "dry_run": bool, "plan": {"kernels": [...]}, "warnings": [...],
//!   "outcome": {"kernels": [...], "executed": [...]} | null}`.

use std::io::IsTerminal;

use kernels::{
    ExecuteError, LockConfig, LockError, Outcome, Plan, PlanError, PlanWarning, RunLock, Step,
};
use serde_json::{json, Value};

use super::Ctx;
use crate::exit::{Code, Failure};

pub use crate::progress::StepPrinter;

/// Takes this user's run lock, telling the user once when it has to wait for another run.
pub fn take_lock(ctx: &Ctx) -> Result<RunLock, Failure> {
    take_lock_at(ctx, &LockConfig::from_host(ctx.host()))
}

/// Takes the run lock described by `cfg` (`apply --for-user` locks the target user's).
pub fn take_lock_at(ctx: &Ctx, cfg: &LockConfig) -> Result<RunLock, Failure> {
    let out = &ctx.out;
    let lock = RunLock::acquire(cfg, &ctx.cancel, &mut |pid| {
        let who = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
        out.status(&format!("waiting for another kernels run{who}…"));
    })
    .map_err(lock_failure)?;
    if let Some(state_dir) = cfg.path.parent() {
        finish_unfinished_run(ctx, state_dir);
    }
    Ok(lock)
}

/// A run killed outright leaves its journal behind; the next run that takes the lock rolls
/// it back first, and says what it did (`kernels doctor` reports one it cannot finish).
fn finish_unfinished_run(ctx: &Ctx, state_dir: &std::path::Path) {
    match kernels::recover(state_dir) {
        Ok(None) => {}
        Ok(Some(r)) => {
            ctx.out.warn(&format!(
                "an earlier kernels run (pid {}) stopped before it finished; rolled it back",
                r.pid
            ));
            for line in &r.report.undone {
                ctx.out.warn(&format!("rolled back: {line}"));
            }
            for line in &r.report.kept {
                ctx.out.warn(&format!("kept: {line}"));
            }
            for line in &r.report.failed {
                ctx.out.warn(&format!("rollback failed: {line}"));
            }
        }
        Err(e) => ctx.out.warn(&boot::error_chain(&e)),
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

/// A policy refusal: exit 3 with the policy's hint.
pub fn refusal_failure(err: kernels::policy::Refusal) -> Failure {
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
    let notes =
        (r.undone.iter().map(|l| format!("rolled back: {l}")))
            .chain(unchanged.then(|| {
                "unchanged: the installer stopped before changing the environment".to_owned()
            }))
            .chain(r.kept.iter().map(|l| format!("kept: {l}")))
            .chain(r.failed.iter().map(|l| format!("rollback failed: {l}")));
    failure.notes.extend(notes);
    failure.maybe_hint(hint)
}

/// Refuses to overwrite kernelspecs `kernels` did not make unless `--yes` (or the user
/// agrees at a terminal prompt).
pub fn confirm_foreign_replacements(ctx: &Ctx, plan: &Plan) -> Result<(), Failure> {
    let foreign: Vec<_> = plan.foreign_replacements().collect();
    if foreign.is_empty() || ctx.global.yes {
        return Ok(());
    }
    let list: Vec<String> = foreign
        .iter()
        .map(|k| format!("{} ({})", k.name, ctx.show_path(&k.kernel_dir)))
        .collect();
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() && !ctx.out.json {
        if ctx.out.ask_yes_no(&format!(
            "Replace the kernelspec{} not made by kernels: {}?",
            if list.len() > 1 { "s" } else { "" },
            list.join(", ")
        )) {
            return Ok(());
        }
        return Err(Failure::failed("nothing was changed"));
    }
    Err(Failure::failed(format!(
        "refusing to replace kernelspec{} that kernels did not make: {}",
        if list.len() > 1 { "s" } else { "" },
        list.join(", ")
    ))
    .hint("pass --yes to replace it, or choose another kernel name"))
}

/// The `--json` document.
pub fn document(
    plan: &Plan,
    warnings: &[PlanWarning],
    outcome: Option<&Outcome>,
    dry_run: bool,
) -> Value {
    json!({
        "ok": true,
        "dry_run": dry_run,
        "plan": plan,
        "warnings": warnings,
        "outcome": outcome,
    })
}

/// Ends a `--dry-run` of `add`/`install`: the plan (one JSON document, or text), and when the
/// policy would refuse it, the refusal (exit 3) — inside that same document in `--json` mode.
pub fn finish_dry_run(
    ctx: &Ctx,
    plan: &Plan,
    policy: Result<Vec<PlanWarning>, kernels::policy::Refusal>,
) -> anyhow::Result<Code> {
    let warnings = policy.as_ref().ok().cloned().unwrap_or_default();
    let refused = policy.err().map(refusal_failure);
    if ctx.out.json {
        let mut doc = document(plan, &warnings, None, true);
        if let (Some(f), Some(obj)) = (&refused, doc.as_object_mut()) {
            obj.insert("ok".into(), json!(false));
            obj.insert("exit_code".into(), json!(f.code.as_u8()));
            obj.insert(
                "error".into(),
                json!({"kind": f.code.word(), "message": f.one_line(), "hint": f.hint}),
            );
        }
        ctx.out.json_doc(&doc);
        if let Some(f) = refused {
            ctx.out.error(&f.cause, f.hint.as_deref());
            return Ok(f.code);
        }
        return Ok(Code::Ok);
    }
    print_warnings(ctx, &warnings, plan);
    print_plan(ctx, plan);
    match refused {
        Some(f) => Err(f.into()),
        None => Ok(Code::Ok),
    }
}

/// Prints warnings on stderr.
pub fn print_warnings(ctx: &Ctx, warnings: &[PlanWarning], plan: &Plan) {
    for w in warnings {
        ctx.out.warn(&w.message);
    }
    for k in &plan.kernels {
        for note in &k.notes {
            ctx.out.warn(&format!("kernel `{}`: {note}", k.name));
        }
    }
}

/// The plan for humans, on stdout (`--dry-run`): per kernel its status, the environment,
/// and every step with its exact commands and files.
pub fn print_plan(ctx: &Ctx, plan: &Plan) {
    for k in &plan.kernels {
        ctx.out.line(&format!(
            "kernel `{}` \"{}\": {}",
            k.name, k.display_name, k.status
        ));
        ctx.out.line(&format!(
            "  environment {} ({})",
            ctx.show_path(&k.env.prefix),
            env_state(k.env.exists, k.env.backend)
        ));
        if k.steps.is_empty() {
            ctx.out
                .line("  nothing to do: the environment and the kernelspec are in place");
        }
        for (i, step) in k.steps.iter().enumerate() {
            let n = i + 1;
            match step {
                Step::CreateEnv(c) => {
                    ctx.out.line(&format!(
                        "  {n}. create the environment with {}{}",
                        c.backend,
                        if c.uv { " (uv)" } else { "" }
                    ));
                    ctx.out.line(&format!(
                        "       tool: {}",
                        crate::progress::tool_reason(c, ctx.host())
                    ));
                    for cmd in &c.commands {
                        ctx.out.line(&format!("       $ {}", cmd.display));
                    }
                }
                Step::InstallPackages(s) => {
                    let what: Vec<&str> =
                        s.conda.iter().chain(&s.pip).map(String::as_str).collect();
                    ctx.out.line(&format!(
                        "  {n}. install {} into the existing environment",
                        what.join(" ")
                    ));
                    for cmd in &s.commands {
                        ctx.out.line(&format!("       $ {}", cmd.display));
                    }
                }
                Step::WriteKernel(w) if w.predicted && already_there(w) => {
                    // The run computes it again after the install and writes it only if it
                    // changed: as predicted, it does not.
                    ctx.out.line(&format!(
                        "  {n}. keep {} (it is checked again after the install; as predicted, \
                         it stays as it is)",
                        ctx.show_path(&w.dir.join("kernel.json"))
                    ));
                }
                Step::WriteKernel(w) => {
                    ctx.out.line(&format!(
                        "  {n}. write {}{}{}",
                        ctx.show_path(&w.dir.join("kernel.json")),
                        match k.replaces {
                            Some(r) if r.managed => " (replacing the one kernels made)",
                            Some(_) => " (replacing a kernelspec kernels did not make)",
                            None => "",
                        },
                        if w.predicted {
                            " (as predicted; computed from the environment once it is ready)"
                        } else {
                            ""
                        }
                    ));
                    for line in w.kernel_json.lines() {
                        ctx.out.line(&format!("       {line}"));
                    }
                    for r in &w.resources {
                        ctx.out.line(&format!("       + {}", ctx.show_path(r)));
                    }
                }
            }
        }
    }
    ctx.out.line("Dry run: nothing was changed.");
}

/// True when the kernel.json on disk is the one the plan predicts (a dry run then shows no
/// rewrite the real run would not do).
fn already_there(w: &kernels::WriteKernelStep) -> bool {
    std::fs::read_to_string(w.dir.join("kernel.json"))
        .is_ok_and(|text| text.trim() == w.kernel_json.trim())
}

/// "new, conda", "existing, made by uv", or "existing" for one kernels did not make (never
/// "existing, existing").
fn env_state(exists: bool, backend: kernels::BackendLabel) -> String {
    match (exists, backend) {
        (_, kernels::BackendLabel::Existing) => "existing".to_owned(),
        (true, b) => format!("existing, made by {b}"),
        (false, b) => format!("new, {b}"),
    }
}

/// One closing line per kernel on stderr after a successful run (what was made, with
/// versions and time; see [`crate::progress::closing_line`]).
pub fn print_outcome(ctx: &Ctx, plan: &Plan, outcome: &Outcome) {
    let elapsed = std::time::Duration::from_secs_f64(outcome.seconds);
    let home = ctx.host().home.as_deref();
    for (k, o) in plan.kernels.iter().zip(&outcome.kernels) {
        ctx.out
            .status(&crate::progress::closing_line(k, o, elapsed, home));
    }
}

/// Runs a plan the policy accepted, one progress line per step, and prints the JSON document
/// (plan and outcome) when `--json` was given. What `add` and `install` do after planning.
pub fn execute_and_document(
    ctx: &Ctx,
    plan: &Plan,
    snapshot: &kernels::Snapshot,
    warnings: &[PlanWarning],
) -> Result<Outcome, Failure> {
    let progress = StepPrinter::new(ctx).explain(plan);
    let outcome =
        kernels::execute(plan, snapshot, &ctx.cancel, &progress).map_err(execute_failure)?;
    if ctx.out.json {
        ctx.out
            .json_doc(&document(plan, warnings, Some(&outcome), false));
    }
    Ok(outcome)
}
