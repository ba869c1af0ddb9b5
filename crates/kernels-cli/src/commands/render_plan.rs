//! Rendering a plan and its outcome for `add`, `install` and `apply`: the dry-run text, the
//! warnings, the closing status lines, and running a checked plan with its progress printer.
//! (The run lock is [`super::run_lock`], exit codes [`super::failures`], prompts
//! [`super::prompt`], the `--json` document [`super::document`].)

use kernels::{KernelStatus, Outcome, Plan, PlanWarning, Step};

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

/// "new, conda", "existing, made by uv", or "existing" for one kernels did not make (never
/// "existing, existing").
fn env_state(exists: bool, backend: kernels::BackendLabel) -> String {
    match (exists, backend) {
        (_, kernels::BackendLabel::Existing) => "existing".to_owned(),
        (true, b) => format!("existing, made by {b}"),
        (false, b) => format!("new, {b}"),
    }
}

/// One status line per kernel on stderr after a successful run.
pub fn print_outcome(ctx: &Ctx, plan: &Plan, outcome: &Outcome) {
    for (k, o) in plan.kernels.iter().zip(&outcome.kernels) {
        let dir = ctx.show_path(&o.kernel_dir);
        let env = ctx.show_path(&o.env);
        match o.status {
            KernelStatus::Create => ctx.out.status(&format!(
                "Added kernel `{}` \"{}\" in {dir} (environment {env})",
                k.name, k.display_name
            )),
            KernelStatus::Update if o.kernel_json.is_some() => ctx.out.status(&format!(
                "Updated kernel `{}` \"{}\" in {dir} (environment {env})",
                k.name, k.display_name
            )),
            KernelStatus::Update => ctx.out.status(&format!(
                "Installed into {env} (kernel `{}` left as it is)",
                k.name
            )),
            KernelStatus::Unchanged => ctx
                .out
                .status(&format!("Kernel {} is up to date; nothing to do", k.name)),
        }
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
    let progress = StepPrinter::new(&ctx.out);
    let outcome =
        kernels::execute(plan, snapshot, &ctx.cancel, &progress).map_err(execute_failure)?;
    if ctx.out.json {
        ctx.out
            .json_doc(&document(plan, warnings, Some(&outcome), false));
    }
    Ok(outcome)
}
