//! `kernels remove NAME...`: remove the winning copy of each kernelspec.
//!
//! Names are case-insensitive (Jupyter's own `remove` is not; documented in
//! docs/search-order.md). Every name is validated and looked up before anything is removed:
//! one unknown or invalid name and nothing is touched.

use std::collections::BTreeSet;
use std::io::IsTerminal;

use clap::Args;
use std::path::{Path, PathBuf};

use kernels::policy::Policy;
use kernels::{BackendLabel, ManagedMeta, SpecEnv};
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
        envs_to_delete(&found, &targets, &policy)?
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
        let tools = envs::locate(ctx.host(), envs::BackendPreference::Auto);
        for (prefix, backend) in &envs.delete {
            kernels::delete_env(prefix, *backend, &tools, ctx.host(), &ctx.cancel).map_err(
                |e| {
                    Failure::failed(format!(
                        "the kernels were removed, but deleting environment {} failed: {}",
                        ctx.show_path(prefix),
                        boot::error_chain(&e)
                    ))
                    .maybe_hint(e.hint())
                },
            )?;
            ctx.out
                .status(&format!("Removed environment {}", ctx.show_path(prefix)));
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
    /// Environments to delete, with how they were made.
    delete: Vec<(PathBuf, BackendLabel)>,
    /// Environments kept, and why (still used by another kernel, already gone).
    kept: Vec<(PathBuf, String)>,
}

/// Decides, before anything is touched, which environments `--with-env` deletes. Only an
/// environment `kernels` created (recorded in the kernel's `metadata.kernels`) is deleted; one
/// the policy protects, or a frozen one, refuses the whole run (exit 3); one another kernel
/// still uses is kept with a warning.
fn envs_to_delete(
    found: &Discovery,
    targets: &[&FoundKernel],
    policy: &Policy,
) -> Result<EnvDecisions, Failure> {
    let mut decisions = EnvDecisions::default();
    let removing: BTreeSet<&Path> = targets.iter().map(|k| k.resource_dir.as_path()).collect();
    for k in targets {
        let meta = k.spec.as_ref().ok().and_then(ManagedMeta::from_spec);
        let Some(meta) = meta.filter(|m| m.env_created) else {
            return Err(Failure::failed(format!(
                "--with-env: the environment behind kernel {} was not created by kernels, so it \
                 is not deleted; nothing was removed",
                k.name
            ))
            .hint(format!(
                "remove the kernel alone (`kernels remove {}`) and the environment with the tool \
                 that made it",
                k.name
            )));
        };
        if decisions.delete.iter().any(|(p, _)| *p == meta.env) {
            continue;
        }
        let Some(env) = envs::Environment::inspect(&meta.env) else {
            decisions
                .kept
                .push((meta.env.clone(), "it no longer exists".to_string()));
            continue;
        };
        policy
            .check_remove_env(&env)
            .map_err(|r| super::policy::refused(&r))?;
        let users: Vec<&str> = found
            .kernels
            .iter()
            .filter(|other| !removing.contains(other.resource_dir.as_path()))
            .filter(|other| {
                other.spec.as_ref().ok().and_then(kernels::env_of_spec)
                    == Some(SpecEnv::Prefix(meta.env.clone()))
            })
            .map(|other| other.name.as_str())
            .collect();
        if users.is_empty() {
            decisions.delete.push((meta.env.clone(), meta.backend));
        } else {
            decisions.kept.push((
                meta.env.clone(),
                format!("still used by kernel {}", users.join(", ")),
            ));
        }
    }
    Ok(decisions)
}

fn report(ctx: &Ctx, targets: &[&FoundKernel], envs: &EnvDecisions, dry_run: bool) {
    if ctx.out.json {
        let removed: Vec<_> = targets
            .iter()
            .map(|k| json!({"name": k.name, "resource_dir": json_path(&k.resource_dir), "scope": k.scope.as_str()}))
            .collect();
        let envs_removed: Vec<_> = envs.delete.iter().map(|(p, _)| json_path(p)).collect();
        let envs_kept: Vec<_> = envs
            .kept
            .iter()
            .map(|(p, why)| json!({"prefix": json_path(p), "reason": why}))
            .collect();
        ctx.out.json_doc(&json!({
            "ok": true,
            "dry_run": dry_run,
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
        for (prefix, _) in &envs.delete {
            ctx.out.line(&format!(
                "would remove environment {}",
                ctx.show_path(prefix)
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
