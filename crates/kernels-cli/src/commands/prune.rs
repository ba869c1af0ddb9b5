//! `kernels prune`: drop kernels whose interpreter or environment is gone, seeing through
//! wrappers (`conda run`, shell activation, envkernel, ...). Protected kernels are never
//! pruned; they are listed as kept, with the rule that keeps them.

use std::io::IsTerminal;

use clap::Args;
use kernels::doctor::Machine;
use kernels::prune::{apply_prune, plan_prune, PrunePlan};
use serde_json::json;

use super::Ctx;
use crate::exit::{Code, Failure};

/// Arguments of `kernels prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Print what would be removed and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `kernels prune`.
pub fn run(ctx: &Ctx, args: &PruneArgs) -> anyhow::Result<Code> {
    // Mutations are serialised per user; a dry run changes nothing and needs no lock.
    let _lock = if args.dry_run {
        None
    } else {
        Some(ctx.lock()?)
    };
    let machine = Machine::gather(ctx.paths(), ctx.host());
    let policy = super::policy::load(ctx);
    let plan = plan_prune(&machine, &policy);
    if args.dry_run || plan.remove.is_empty() {
        show_plan(ctx, &plan, args.dry_run);
        return Ok(Code::Ok);
    }
    if !ctx.global.yes && std::io::stdin().is_terminal() && !confirm(ctx, &plan) {
        ctx.out.status("Nothing removed.");
        return Ok(Code::Ok);
    }
    let results = apply_prune(&plan);
    let failed: Vec<_> = results.iter().filter(|r| r.error.is_some()).collect();
    if ctx.out.json {
        let removed: Vec<_> = results.iter().filter(|r| r.error.is_none()).collect();
        ctx.out.json_doc(&json!({
            "ok": failed.is_empty(),
            "dry_run": false,
            "examined": plan.examined,
            "removed": removed,
            "failed": failed,
            "kept": plan.kept,
        }));
    } else {
        for r in &results {
            match &r.error {
                None => ctx.out.line(&format!(
                    "removed {}  {}  ({})",
                    r.kernel.name,
                    ctx.show_path(&r.kernel.resource_dir),
                    r.kernel.reason
                )),
                Some(e) => ctx
                    .out
                    .error(&format!("could not remove {}: {e}", r.kernel.name), None),
            }
        }
        show_kept(ctx, &plan);
    }
    if failed.is_empty() {
        return Ok(Code::Ok);
    }
    let denied = failed.iter().any(|r| r.permission_denied);
    let failure = Failure::failed(format!(
        "{} of {} stale kernel(s) could not be removed",
        failed.len(),
        results.len()
    ));
    Err(if denied {
        failure.hint("some are in directories you cannot write (system kernel dirs); run as an administrator")
    } else {
        failure
    }
    .into())
}

fn show_plan(ctx: &Ctx, plan: &PrunePlan, dry_run: bool) {
    if ctx.out.json {
        ctx.out.json_doc(&json!({
            "ok": true,
            "dry_run": dry_run,
            "examined": plan.examined,
            "removed": if dry_run { json!([]) } else { json!(plan.remove) },
            "would_remove": if dry_run { json!(plan.remove) } else { json!([]) },
            "kept": plan.kept,
        }));
        return;
    }
    for s in &plan.remove {
        ctx.out.line(&format!(
            "would remove {}  {}  ({})",
            s.name,
            ctx.show_path(&s.resource_dir),
            s.reason
        ));
    }
    show_kept(ctx, plan);
    if plan.remove.is_empty() {
        ctx.out.status(&format!(
            "No stale kernels among {} examined.",
            plan.examined
        ));
    }
}

fn show_kept(ctx: &Ctx, plan: &PrunePlan) {
    for k in &plan.kept {
        ctx.out.line(&format!(
            "kept {}  {}  ({})",
            k.name,
            ctx.show_path(&k.resource_dir),
            k.reason
        ));
    }
}

fn confirm(ctx: &Ctx, plan: &PrunePlan) -> bool {
    eprintln!("Stale kernels to remove:");
    for s in &plan.remove {
        eprintln!(
            "  {:<20}  {}  ({})",
            s.name,
            ctx.show_path(&s.resource_dir),
            s.reason
        );
    }
    ctx.out
        .ask_yes_no(&format!("Remove {} kernel(s)?", plan.remove.len()))
}
