//! `kernels remove NAME...`: remove the winning copy of each kernelspec.
//!
//! Names are case-insensitive (Jupyter's own `remove` is not; documented in
//! docs/search-order.md). Every name is validated and looked up before anything is removed:
//! one unknown or invalid name and nothing is touched.

use std::collections::BTreeSet;
use std::io::IsTerminal;

use clap::Args;
use std::path::PathBuf;

use kernels::deletion::{delete_planned_env, plan_env_deletion, EnvDeletion, Undeletable};
use kernels::doctor::Machine;
use kernels::policy::Policy;
use kernels::{ManagedMeta, SpecEnv};
use kernelspec::{Discovery, FoundKernel, RemoveError};
use serde_json::json;

use super::names::{parse_name, printable, unknown_kernel};
use super::Ctx;
use crate::exit::{Code, Failure};
use crate::output::json_path;

/// Arguments of `kernels remove`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  kernels remove newenv              the kernelspec only; the environment stays
  kernels remove newenv --with-env   and the environment kernels created for it
  kernels remove a b --dry-run       what would be removed, changing nothing")]
pub struct RemoveArgs {
    /// Kernel names (case-insensitive).
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Also remove the environment behind each kernel (only environments `kernels` created,
    /// never protected ones).
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
    let _lock = if args.dry_run {
        None
    } else {
        Some(ctx.lock()?)
    };
    let found = kernelspec::discover(ctx.paths());
    let mut targets: Vec<&FoundKernel> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for name in &names {
        match found.get(name.as_str()) {
            Some(k) => targets.push(k),
            None => unknown.push(name.to_string()),
        }
    }
    if let Some(first) = unknown.first() {
        let mut failure = unknown_kernel(first, &found);
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
        return Err(failure.into());
    }

    // The protection policy decides before anything is touched: one protected name and
    // nothing is removed (exit 3). No flag bypasses it.
    let policy = super::policy::load(ctx);
    for k in &targets {
        policy
            .check_remove_kernel(k)
            .map_err(|r| super::policy::refused(&r))?;
    }

    let envs = if args.with_env {
        envs_to_delete(ctx, &found, &targets, &policy)?
    } else {
        EnvDecisions::default()
    };

    if args.dry_run {
        report(ctx, &targets, &envs, true);
        return Ok(Code::Ok);
    }
    if !ctx.global.yes && std::io::stdin().is_terminal() && !confirm(ctx, &targets) {
        ctx.out.status("Nothing removed.");
        return Ok(Code::Ok);
    }
    for k in &targets {
        kernelspec::remove(&k.resource_dir).map_err(|e| removal_failure(ctx, k, e))?;
        ctx.out.status(&format!(
            "Removed kernel {} ({})",
            k.name,
            ctx.show_path(&k.resource_dir)
        ));
    }
    if !envs.delete.is_empty() {
        let tools = envs::locate(ctx.host(), envs::BackendChoice::Auto);
        let timeout = kernels::LockConfig::from_host(ctx.host()).timeout;
        for d in &envs.delete {
            delete_planned_env(d, &tools, ctx.host(), &ctx.cancel, timeout).map_err(|e| {
                Failure::failed(format!(
                    "the kernels were removed, but deleting environment {} failed: {}",
                    ctx.show_path(&d.prefix),
                    boot::error_chain(&e)
                ))
                .maybe_hint(e.hint())
            })?;
            ctx.out
                .status(&format!("Removed environment {}", ctx.show_path(&d.prefix)));
        }
    }
    for (prefix, why) in &envs.kept {
        ctx.out.warn(&format!(
            "kept environment {}: {why}",
            ctx.show_path(prefix)
        ));
    }
    report(ctx, &targets, &envs, false);
    Ok(Code::Ok)
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
            Err(Undeletable::Refused(r)) => return Err(super::policy::refused(&r)),
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

fn report(ctx: &Ctx, targets: &[&FoundKernel], envs: &EnvDecisions, dry_run: bool) {
    if ctx.out.json {
        let removed: Vec<_> = targets
            .iter()
            .map(|k| json!({"name": k.name, "resource_dir": json_path(&k.resource_dir), "scope": k.scope.as_str()}))
            .collect();
        let envs_removed: Vec<_> = envs.delete.iter().map(|d| json_path(&d.prefix)).collect();
        let envs_kept: Vec<_> = envs
            .kept
            .iter()
            .map(|(p, why)| json!({"prefix": json_path(p), "reason": why}))
            .collect();
        // The same changes as ordered steps: kernelspecs first, then environments.
        let steps: Vec<_> = targets
            .iter()
            .map(|k| json!({"step": "remove_kernel", "target": json_path(&k.resource_dir)}))
            .chain(envs.delete.iter().map(|d| {
                json!({"step": "delete_env", "target": json_path(&d.prefix), "backend": d.backend})
            }))
            .collect();
        ctx.out.json_doc(&json!({
            "ok": true,
            "dry_run": dry_run,
            "steps": steps,
            "removed": removed,
            "envs_removed": envs_removed,
            "envs_kept": envs_kept,
        }));
    } else if dry_run {
        for k in targets {
            ctx.out.line(&format!(
                "would remove kernel {} ({})",
                k.name,
                ctx.show_path(&k.resource_dir)
            ));
        }
        for d in &envs.delete {
            ctx.out.line(&format!(
                "would remove environment {}",
                ctx.show_path(&d.prefix)
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

fn confirm(ctx: &Ctx, targets: &[&FoundKernel]) -> bool {
    eprintln!("Kernels to remove:");
    for k in targets {
        eprintln!("  {:<20}  {}", k.name, ctx.show_path(&k.resource_dir));
    }
    ctx.out
        .ask_yes_no(&format!("Remove {} kernel(s)?", targets.len()))
}

fn removal_failure(ctx: &Ctx, k: &FoundKernel, err: RemoveError) -> Failure {
    match &err {
        RemoveError::PermissionDenied { path, .. } => Failure::failed(format!(
            "permission denied: cannot remove kernel {} at {}",
            k.name,
            ctx.show_path(path)
        ))
        .hint(
            "it is in a directory you cannot write (a system or shared kernel dir); \
             run as an administrator, or leave it",
        ),
        _ => Failure::failed(format!(
            "removing kernel {}: {}",
            k.name,
            boot::error_chain(&err)
        )),
    }
}
