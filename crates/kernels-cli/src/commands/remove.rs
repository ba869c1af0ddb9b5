//! `kernels remove NAME...`: remove the winning copy of each kernelspec, and with
//! `--with-env` the environments `kernels` made for them.
//!
//! Names are case-insensitive (Jupyter's own `remove` is not; documented in
//! docs/search-order.md). Every name is validated and looked up, and every environment
//! checked, before anything is removed: one unknown or invalid name, one protected kernel
//! or environment, and nothing is touched. What is removed is a
//! [`RemovalPlan`](kernels::removal::RemovalPlan) — kernelspecs first, then environments —
//! shown by `--dry-run` and `--json`, run through the durable journal, rolled back on
//! failure. Deleting environments is asked for at a terminal (each listed with its size on
//! disk); without one it takes `--yes`.

use std::collections::BTreeSet;
use std::io::IsTerminal;

use clap::Args;
use std::path::PathBuf;

use kernels::deletion::{plan_env_deletion, EnvDeletion, Undeletable};
use kernels::doctor::Machine;
use kernels::policy::Policy;
use kernels::removal::{execute_removal, KernelRemoval, RemovalContext, RemovalPlan, RemovalStep};
use kernels::{ManagedMeta, SpecEnv};
use kernelspec::{Discovery, FoundKernel};
use serde_json::json;

use super::failures::{refusal_failure, removal_failure};
use super::names::{parse_name, printable, unknown_kernel};
use super::prompt::{can_ask, human_size};
use super::Ctx;
use crate::exit::{Code, Failure};
use crate::output::json_path;

/// Arguments of `kernels remove`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  kernels remove newenv                    the kernelspec only; the environment stays
  kernels remove newenv --with-env         and the environment kernels created for it
  kernels remove newenv --with-env --yes   the same, without asking (scripts)
  kernels remove a b --dry-run             what would be removed, changing nothing")]
pub struct RemoveArgs {
    /// Kernel names (case-insensitive).
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Also remove the environment behind each kernel (only environments `kernels` created,
    /// never protected ones). Asks first, listing each with its size; without a terminal it
    /// needs --yes.
    #[arg(long)]
    pub with_env: bool,
    /// Print what would be removed and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `kernels remove`.
pub fn run(ctx: &Ctx, args: &RemoveArgs) -> anyhow::Result<Code> {
    let mut names = BTreeSet::new();
    for raw in &args.names {
        names.insert(parse_name(raw)?);
    }
    // Mutations are serialised per user; a dry run changes nothing and needs no lock.
    let (_lock, finished) = if args.dry_run {
        (None, Vec::new())
    } else {
        let (lock, finished) = super::run_lock::take_lock_for_removal(ctx)?;
        (Some(lock), finished)
    };
    let found = kernelspec::discover(ctx.paths());
    // A re-run after a run killed mid-removal: the lock finished that removal just now, so
    // the kernels it removed are gone on purpose, not unknown names.
    let done_already = names_removed_by(&finished, &names, &found);
    for name in &done_already {
        names.remove(name);
        ctx.out.status(&format!(
            "Kernel `{name}` was removed by finishing the earlier run (see above)."
        ));
    }
    if names.is_empty() {
        if ctx.out.json {
            report(
                ctx,
                &removal_plan(&[], Vec::new()),
                &EnvDecisions::default(),
                false,
            );
        }
        return Ok(Code::Ok);
    }
    let targets = find_targets(&names, &found)?;

    // The protection policy decides before anything is touched: one protected name and
    // nothing is removed (exit 3). No flag bypasses it.
    let policy = super::policy::load(ctx);
    for k in &targets {
        policy
            .check_remove_kernel(k)
            .map_err(|r| refusal_failure(&r))?;
    }
    let envs = if args.with_env {
        envs_to_delete(ctx, &found, &targets, &policy)?
    } else {
        EnvDecisions::default()
    };
    let plan = removal_plan(&targets, envs.delete.clone());

    if args.dry_run {
        report(ctx, &plan, &envs, true);
        return Ok(Code::Ok);
    }
    if !confirmed(ctx, &plan)? {
        ctx.out.status("Nothing removed.");
        return Ok(Code::Ok);
    }
    execute(ctx, &plan)?;
    for (prefix, why) in &envs.kept {
        ctx.out.warn(&format!(
            "kept environment {}: {why}",
            ctx.show_path(prefix)
        ));
    }
    report(ctx, &plan, &envs, false);
    Ok(Code::Ok)
}

/// The names asked for that are no longer found because the run lock just finished a dead
/// run's removal of their kernelspec directories (`finished`).
fn names_removed_by(
    finished: &[std::path::PathBuf],
    names: &BTreeSet<kernelspec::KernelName>,
    found: &Discovery,
) -> Vec<kernelspec::KernelName> {
    names
        .iter()
        .filter(|n| found.get(n.as_str()).is_none())
        .filter(|n| {
            finished
                .iter()
                .any(|d| d.file_name().is_some_and(|f| f == n.as_str()))
        })
        .cloned()
        .collect()
}

/// The winning copy of each name; one unknown name fails the whole run.
fn find_targets<'a>(
    names: &BTreeSet<kernelspec::KernelName>,
    found: &'a Discovery,
) -> Result<Vec<&'a FoundKernel>, Failure> {
    let mut targets: Vec<&FoundKernel> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for name in names {
        match found.get(name.as_str()) {
            Some(k) => targets.push(k),
            None => unknown.push(name.to_string()),
        }
    }
    let Some(first) = unknown.first() else {
        return Ok(targets);
    };
    let mut failure = unknown_kernel(first, found);
    if unknown.len() > 1 {
        failure.cause = format!(
            "no kernels named {}",
            unknown
                .iter()
                .map(|n| format!("{:?}", printable(n)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    failure.cause.push_str("; nothing was removed");
    Err(failure)
}

/// Kernelspecs first (each tied to the environment deleted with it), then environments.
fn removal_plan(targets: &[&FoundKernel], delete: Vec<EnvDeletion>) -> RemovalPlan {
    let kernels = targets
        .iter()
        .map(|k| {
            let env = k
                .spec
                .as_ref()
                .ok()
                .and_then(ManagedMeta::from_spec)
                .and_then(|m| std::fs::canonicalize(&m.env).ok())
                .filter(|p| delete.iter().any(|d| &d.prefix == p));
            KernelRemoval {
                name: k.name.clone(),
                dir: k.resource_dir.clone(),
                scope: k.scope.as_str(),
                env,
            }
        })
        .collect();
    RemovalPlan::new(kernels, delete)
}

/// Asks before removing: environments are listed with their size and deleted only when the
/// user agrees at a terminal or passed `--yes` (without a terminal, a usage error); kernelspecs
/// alone are asked about at a terminal only.
fn confirmed(ctx: &Ctx, plan: &RemovalPlan) -> Result<bool, Failure> {
    if ctx.global.yes {
        return Ok(true);
    }
    let envs: Vec<&EnvDeletion> = plan.envs().collect();
    if envs.is_empty() {
        if !std::io::stdin().is_terminal() {
            return Ok(true);
        }
        eprintln!("Kernels to remove:");
        for k in plan.kernels() {
            eprintln!("  {:<20}  {}", k.name, ctx.show_path(&k.dir));
        }
        let n = plan.kernels().count();
        return Ok(ctx.out.ask_yes_no(&format!("Remove {n} kernel(s)?")));
    }
    let s = if envs.len() == 1 { "" } else { "s" };
    if !can_ask(ctx) {
        let list: Vec<String> = envs.iter().map(|d| ctx.show_path(&d.prefix)).collect();
        return Err(Failure::usage(format!(
            "--with-env would delete {} environment{s} ({}), and with no terminal to ask (or \
             with --json) that needs --yes; nothing was removed",
            envs.len(),
            list.join(", ")
        ))
        .hint("pass --yes to delete them, or --dry-run to see what would be removed"));
    }
    eprintln!("Kernels to remove:");
    for k in plan.kernels() {
        eprintln!("  {:<20}  {}", k.name, ctx.show_path(&k.dir));
    }
    eprintln!("Environments to delete (this cannot be undone):");
    for d in &envs {
        eprintln!("  {}  ({})", ctx.show_path(&d.prefix), human_size(d.bytes));
    }
    Ok(ctx.out.ask_yes_no(&format!(
        "Remove {} kernel(s) and delete {} environment{s}?",
        plan.kernels().count(),
        envs.len()
    )))
}

/// Runs the plan, one status line per step done.
fn execute(ctx: &Ctx, plan: &RemovalPlan) -> Result<(), Failure> {
    let tools = envs::locate(ctx.host(), envs::BackendChoice::Auto);
    let rctx = RemovalContext::new(ctx.host(), &tools, &ctx.cancel);
    execute_removal(plan, &rctx, &mut |step| match step {
        RemovalStep::RemoveKernel(k) => ctx.out.status(&format!(
            "Removed kernel `{}` ({})",
            k.name,
            ctx.show_path(&k.dir)
        )),
        RemovalStep::DeleteEnv(d) => ctx
            .out
            .status(&format!("Removed environment {}", ctx.show_path(&d.prefix))),
    })
    .map_err(|e| removal_failure(e, &|p| ctx.show_path(p)))
}

/// What `--with-env` will do with the environments behind the kernels being removed.
#[derive(Debug, Default)]
struct EnvDecisions {
    /// Environments to delete (canonical prefixes, checked).
    delete: Vec<EnvDeletion>,
    /// Environments kept, and why (still used by another kernel, already gone).
    kept: Vec<(PathBuf, String)>,
}

/// Decides, before anything is touched, which environments `--with-env` deletes
/// ([`kernels::deletion`]): only one `kernels` created for this user, as its records prove
/// (not a kernel.json's word); one the policy protects, a frozen one, or one with a protected
/// environment, a conda installation, a kernel directory or another environment inside it
/// refuses the whole run (exit 3); one another kernel still uses is kept with a warning.
fn envs_to_delete(
    ctx: &Ctx,
    found: &Discovery,
    targets: &[&FoundKernel],
    policy: &Policy,
) -> Result<EnvDecisions, Failure> {
    let mut decisions = EnvDecisions::default();
    let removing: Vec<PathBuf> = targets.iter().map(|k| k.resource_dir.clone()).collect();
    let machine = Machine::gather(ctx.paths(), ctx.host());
    for k in targets {
        let meta = k.spec.as_ref().ok().and_then(ManagedMeta::from_spec);
        let Some(meta) = meta.filter(|m| m.env_created) else {
            return Err(not_ours(&k.name, None));
        };
        let deletion = match plan_env_deletion(&meta.env, &machine, policy, &removing) {
            Ok(Some(d)) => d,
            Ok(None) => {
                decisions
                    .kept
                    .push((meta.env.clone(), "it no longer exists".to_string()));
                continue;
            }
            Err(Undeletable::Refused(r)) => return Err(refusal_failure(&r)),
            Err(Undeletable::NotOurs { why, .. }) => {
                return Err(not_ours(&k.name, Some(why.to_string())))
            }
        };
        if decisions.delete.iter().any(|d| d.prefix == deletion.prefix) {
            continue;
        }
        let users: Vec<&str> = found
            .kernels
            .iter()
            .filter(|other| !removing.contains(&other.resource_dir))
            .filter(
                |other| match other.spec.as_ref().ok().and_then(kernels::env_of_spec) {
                    Some(SpecEnv::Prefix(p)) => {
                        std::fs::canonicalize(&p).is_ok_and(|c| c == deletion.prefix)
                    }
                    _ => false,
                },
            )
            .map(|other| other.name.as_str())
            .collect();
        if users.is_empty() {
            decisions.delete.push(deletion);
        } else {
            decisions.kept.push((
                deletion.prefix,
                format!("still used by kernel {}", users.join(", ")),
            ));
        }
    }
    Ok(decisions)
}

fn not_ours(name: &str, why: Option<String>) -> Failure {
    let why = why.map(|w| format!(": {w}")).unwrap_or_default();
    Failure::failed(format!(
        "--with-env: the environment behind kernel {name} was not created by kernels{why}; it \
         is not deleted, and nothing was removed"
    ))
    .hint(format!(
        "remove the kernel alone (`kernels remove {name}`) and the environment with the tool \
         that made it"
    ))
}

fn report(ctx: &Ctx, plan: &RemovalPlan, envs: &EnvDecisions, dry_run: bool) {
    if ctx.out.json {
        let removed: Vec<_> = plan
            .kernels()
            .map(|k| json!({"name": k.name, "resource_dir": json_path(&k.dir), "scope": k.scope}))
            .collect();
        let envs_removed: Vec<_> = plan.envs().map(|d| json_path(&d.prefix)).collect();
        let envs_kept: Vec<_> = envs
            .kept
            .iter()
            .map(|(p, why)| json!({"prefix": json_path(p), "reason": why}))
            .collect();
        // The same changes as the ordered steps that run: kernelspecs, then environments.
        ctx.out.json_doc(&json!({
            "ok": true,
            "dry_run": dry_run,
            "steps": plan.steps,
            "removed": removed,
            "envs_removed": envs_removed,
            "envs_kept": envs_kept,
        }));
    } else if dry_run {
        for k in plan.kernels() {
            ctx.out.line(&format!(
                "would remove kernel {} ({})",
                k.name,
                ctx.show_path(&k.dir)
            ));
        }
        for d in plan.envs() {
            ctx.out.line(&format!(
                "would remove environment {} ({})",
                ctx.show_path(&d.prefix),
                human_size(d.bytes)
            ));
        }
        for (prefix, why) in &envs.kept {
            ctx.out.line(&format!(
                "would keep environment {}: {why}",
                ctx.show_path(prefix)
            ));
        }
    }
}
