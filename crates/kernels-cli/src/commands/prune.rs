//! `kernels prune`: drop kernels whose interpreter or environment is gone, seeing through
//! wrappers (`conda run`, shell activation, envkernel, ...). Protected kernels are never
//! pruned; they are listed as kept, with the rule that keeps them. The removals are one
//! journaled plan (`steps` in `--json`): all of them, or on a failure none.

use std::io::IsTerminal;
use std::path::Path;

use clap::Args;
use kernels::doctor::Machine;
use kernels::prune::{plan_prune, PrunePlan};
use kernels::removal::{execute_removal, RemovalContext, RemovalPlan};
use serde_json::json;

use super::failures::removal_failure;
use super::Ctx;
use crate::exit::Code;

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
    let removal = plan.removal();
    if args.dry_run || plan.remove.is_empty() {
        show(ctx, &plan, &removal, args.dry_run);
        return Ok(Code::Ok);
    }
    if !ctx.global.yes && std::io::stdin().is_terminal() && !confirm(ctx, &plan) {
        ctx.out.status("Nothing removed.");
        return Ok(Code::Ok);
    }
    // Kernelspecs only: no environment is deleted, so no tool is needed.
    let tools = envs::Tools::default();
    let rctx = RemovalContext::new(ctx.host(), &tools, &ctx.cancel);
    execute_removal(&removal, &rctx, &mut |_| {})
        .map_err(|e| removal_failure(e, &|p| ctx.show_path(p)))?;
    show(ctx, &plan, &removal, false);
    Ok(Code::Ok)
}

/// The plan as it would run (`dry_run`) or as it ran: one `--json` document (both
/// `removed` and `would_remove`, one of them empty), or a line per kernel removed and kept.
fn show(ctx: &Ctx, plan: &PrunePlan, removal: &RemovalPlan, dry_run: bool) {
    if ctx.out.json {
        ctx.out.json_doc(&json!({
            "ok": true,
            "dry_run": dry_run,
            "examined": plan.examined,
            "steps": removal.steps,
            "removed": if dry_run { json!([]) } else { json!(plan.remove) },
            "would_remove": if dry_run { json!(plan.remove) } else { json!([]) },
            "kept": plan.kept,
        }));
        return;
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    for s in &plan.remove {
        show_row(ctx, verb, &s.name, &s.resource_dir, &s.reason);
    }
    for k in &plan.kept {
        show_row(ctx, "kept", &k.name, &k.resource_dir, &k.reason);
    }
    if plan.remove.is_empty() {
        ctx.out.status(&format!(
            "No stale kernels among {} examined.",
            plan.examined
        ));
    }
}

/// One line of the result: what happened to a kernel (`verb`), where it is, and why.
fn show_row(ctx: &Ctx, verb: &str, name: &str, resource_dir: &Path, reason: &str) {
    ctx.out.line(&format!(
        "{verb} {name}  {}  ({reason})",
        ctx.show_path(resource_dir)
    ));
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
