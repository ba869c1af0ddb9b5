//! Rendering a plan and its outcome for `add`, `install` and `apply`: the dry-run text, the
//! warnings, the closing status lines, and running a checked plan with its progress printer.
//! (The run lock is [`super::run_lock`], exit codes [`super::failures`], prompts
//! [`super::prompt`], the `--json` document [`super::document`].)

use kernels::{Outcome, Plan, PlanWarning, Step};

use super::document::{document, mark_failed};
use super::failures::{execute_failure, refusal_failure};
use super::Ctx;
use crate::exit::{Code, Failure};

pub use crate::progress::StepPrinter;

/// Ends a `--dry-run` of `add`/`install`: the plan (one JSON document, or text), and when the
/// policy would refuse it, the refusal (exit 3) — inside that same document in `--json` mode.
pub fn finish_dry_run(
    ctx: &Ctx,
    plan: &Plan,
    policy: Result<Vec<PlanWarning>, kernels::policy::Refusal>,
) -> anyhow::Result<Code> {
    let warnings = policy.as_ref().ok().cloned().unwrap_or_default();
    let refused = policy.err().map(|r| refusal_failure(&r));
    if ctx.out.json {
        let mut doc = document(plan, &warnings, None, true);
        if let Some(f) = &refused {
            mark_failed(&mut doc, f);
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
                    if !c.solved.is_empty() {
                        ctx.out.line(&format!(
                            "       solved in-process: {} packages",
                            c.solved.len()
                        ));
                        for p in &c.solved {
                            ctx.out.line(&format!("         + {p}"));
                        }
                    }
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
                    if s.conda_backend == Some(envs::BackendKind::Rattler) {
                        ctx.out
                            .line("       with rattler (solved and linked in-process)");
                    }
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
