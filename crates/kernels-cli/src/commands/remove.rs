//! `kernels remove NAME...`: remove the winning copy of each kernelspec.
//!
//! Names are case-insensitive (Jupyter's own `remove` is not; documented in
//! docs/search-order.md). Every name is validated and looked up before anything is removed:
//! one unknown or invalid name and nothing is touched.

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};

use clap::Args;
use kernelspec::{FoundKernel, RemoveError};
use serde_json::json;

use super::names::{parse_name, printable, unknown_kernel};
use super::Ctx;
use crate::exit::{Code, Failure};

/// Arguments of `kernels remove`.
#[derive(Debug, Args)]
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

    if args.dry_run {
        report(ctx, &targets, true);
        return Ok(Code::Ok);
    }
    if !ctx.global.yes && std::io::stdin().is_terminal() && !confirm(ctx, &targets)? {
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
    report(ctx, &targets, false);
    Ok(Code::Ok)
}

fn report(ctx: &Ctx, targets: &[&FoundKernel], dry_run: bool) {
    if ctx.out.json {
        let removed: Vec<_> = targets
            .iter()
            .map(|k| json!({"name": k.name, "resource_dir": k.resource_dir, "scope": k.scope.as_str()}))
            .collect();
        ctx.out
            .json_doc(&json!({"ok": true, "dry_run": dry_run, "removed": removed}));
    } else if dry_run {
        for k in targets {
            ctx.out.line(&format!(
                "would remove kernel {} ({})",
                k.name,
                ctx.show_path(&k.resource_dir)
            ));
        }
    }
}

fn confirm(ctx: &Ctx, targets: &[&FoundKernel]) -> anyhow::Result<bool> {
    eprintln!("Kernels to remove:");
    for k in targets {
        eprintln!("  {:<20}  {}", k.name, ctx.show_path(&k.resource_dir));
    }
    eprint!("Remove {} kernel(s)? [y/N] ", targets.len());
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
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
            super::list::error_text(&err)
        )),
    }
}
