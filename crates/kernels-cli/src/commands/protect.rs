//! `kernels protect`: add entries to the user protection policy (or, with `--system`, to the
//! administrator's). Entries written here are required: `kernels doctor` reports them when
//! they go missing or break. Writing is idempotent and atomic, and a journaled step: the
//! file's previous content is recorded in the run's durable journal first, so a failed write
//! leaves the file as it was and a run killed mid-write is rolled back by the next one.

use std::path::{Path, PathBuf};

use clap::Args;
use kernels::doctor::Machine;
use kernels::policy::{
    plan_protect, snapshot_additions, write_additions, Addition, PolicyFileError, PolicyPaths,
    ProtectError, Source,
};
use kernels::{Journal, LockConfig, RollbackReport};
use serde_json::json;

use super::names::{printable, quoted_list};
use super::policy::target_parts;
use super::Ctx;
use crate::exit::{Code, Failure};

/// Arguments of `kernels protect`.
#[derive(Debug, Args)]
pub struct ProtectArgs {
    /// Kernel or environment names (or absolute environment paths) to protect.
    #[arg(required_unless_present = "snapshot", conflicts_with = "snapshot")]
    pub names: Vec<String>,
    /// Protect every kernel and environment present right now (the last step of an image build).
    #[arg(long)]
    pub snapshot: bool,
    /// Write to the system policy file instead of the user's (needs administrator rights).
    #[arg(long)]
    pub system: bool,
    /// Print what would be recorded and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `kernels protect`.
pub fn run(ctx: &Ctx, args: &ProtectArgs) -> anyhow::Result<Code> {
    let paths = PolicyPaths::from_host(ctx.host());
    let (file, source) = if args.system {
        (paths.system.clone(), Source::System(paths.system.clone()))
    } else {
        let user = paths.user.clone().ok_or_else(|| {
            Failure::failed("cannot find the user policy file: HOME is not set")
                .hint("set HOME, or use --system as an administrator")
        })?;
        (user.clone(), Source::User(user))
    };
    // Mutations are serialised per user (the policy file is read, changed, written back).
    let _lock = if args.dry_run {
        None
    } else {
        Some(ctx.lock()?)
    };
    let machine = Machine::gather(ctx.paths(), ctx.host());
    let additions: Vec<Addition> = if args.snapshot {
        let kernel_envs: Vec<PathBuf> = machine
            .discovery
            .kernels
            .iter()
            .chain(machine.discovery.shadowed.iter())
            .filter_map(|k| machine.locate(k))
            .filter_map(|l| l.env.prefix().map(PathBuf::from))
            .filter(|p| envs::Environment::inspect(p).is_some())
            .collect();
        snapshot_additions(&machine.discovery, &machine.envs, &kernel_envs)
    } else {
        plan_protect(&args.names, &machine.discovery, &machine.envs)
            .map_err(protect_failure)?
            .iter()
            .map(|t| t.addition())
            .collect()
    };
    let shown = ctx.show_path(&file);
    if args.dry_run {
        report(ctx, &additions, &file, None, true);
        if !ctx.out.json {
            ctx.out
                .status(&format!("Dry run: {shown} was not changed."));
        }
        return Ok(Code::Ok);
    }
    let changed = write_journaled(ctx.host(), &file, &source, &additions)
        .map_err(|b| write_failure(&b.0, &shown, args.system).note(&b.1, &shown))?;
    report(ctx, &additions, &file, Some(changed), false);
    if args.system {
        if let Err(why) = system_trust(&file) {
            ctx.out.warn(&format!(
                "{shown} will be ignored until this is fixed: {why}"
            ));
        }
    }
    Ok(Code::Ok)
}

/// Writes `additions` to `file` as the one step of a durable journal in the run lock's state
/// directory of `host`'s user (see [`kernels::policy::write_additions`]): committed when the
/// write succeeds, rolled back (the file as it was, byte for byte) when it fails.
pub fn write_journaled(
    host: &envs::HostEnv,
    file: &Path,
    source: &Source,
    additions: &[Addition],
) -> Result<usize, Box<(PolicyFileError, RollbackReport)>> {
    let lock = LockConfig::from_host(host);
    let state_dir = lock.path.parent().unwrap_or(Path::new("."));
    let mut journal = Journal::durable(state_dir);
    match write_additions(&mut journal, file, source, additions) {
        Ok(changed) => {
            journal.commit();
            Ok(changed)
        }
        Err(e) => Err(Box::new((e, journal.rollback()))),
    }
}

/// What became of the policy file after a failed write, for the error message.
pub trait RollbackNote {
    /// Appends what the rollback did to the cause.
    fn note(self, rollback: &RollbackReport, shown: &str) -> Self;
}

impl RollbackNote for Failure {
    fn note(mut self, rollback: &RollbackReport, shown: &str) -> Failure {
        if rollback.failed.is_empty() {
            self.cause
                .push_str(&format!("; {shown} is as it was before this run"));
        } else {
            self.cause.push_str(&format!(
                "; putting {shown} back failed: {}",
                rollback.failed.join("; ")
            ));
        }
        self
    }
}

fn system_trust(file: &std::path::Path) -> Result<(), String> {
    let policy = kernels::policy::Policy::load(&PolicyPaths {
        system: file.to_path_buf(),
        fixed: None,
        user: None,
    });
    match policy.system_file_unusable() {
        Some(r) => Err(r.state.reason().unwrap_or_default().to_string()),
        None => Ok(()),
    }
}

fn report(
    ctx: &Ctx,
    additions: &[Addition],
    file: &std::path::Path,
    changed: Option<usize>,
    dry_run: bool,
) {
    if ctx.out.json {
        let entries: Vec<_> = additions
            .iter()
            .map(|a| {
                let (kind, value) = target_parts(&a.target);
                json!({"kind": kind, "value": value, "required": a.required})
            })
            .collect();
        ctx.out.json_doc(&json!({
            "ok": true,
            "dry_run": dry_run,
            "file": file.to_string_lossy(),
            "entries": entries,
            // The one step: the file is rewritten, its previous content journaled first.
            "steps": [{"step": "write_policy", "file": file.to_string_lossy(), "journaled": true}],
            "changed": changed,
        }));
        return;
    }
    for a in additions {
        let verb = if dry_run {
            "would protect"
        } else {
            "protected"
        };
        ctx.out.line(&format!("{verb} {} (required)", a.target));
    }
    if let Some(changed) = changed {
        let unchanged = additions.len().saturating_sub(changed);
        let tail = if unchanged > 0 {
            format!(" ({unchanged} already recorded)")
        } else {
            String::new()
        };
        ctx.out.status(&format!(
            "{changed} entr{} written to {}{tail}",
            if changed == 1 { "y" } else { "ies" },
            ctx.show_path(file)
        ));
    }
}

fn protect_failure(e: ProtectError) -> Failure {
    match &e {
        ProtectError::Invalid { input, why } => Failure::usage(format!(
            "{:?} is not a kernel name, environment name or absolute environment path: {why}",
            printable(input)
        ))
        .hint(kernelspec::NAME_RULE),
        ProtectError::NotFound { name, closest } => {
            let hint = if closest.is_empty() {
                "`kernels list` and `kernels envs` show what exists".to_string()
            } else {
                let names: Vec<&str> = closest.iter().map(String::as_str).collect();
                format!("did you mean {}?", quoted_list(&names))
            };
            Failure::failed(format!(
                "no kernel or environment named `{}` exists; nothing was protected",
                printable(name)
            ))
            .hint(hint)
        }
        ProtectError::NotAnEnv { .. } => Failure::failed(format!("{e}; nothing was protected")),
    }
}

fn write_failure(e: &PolicyFileError, shown: &str, system: bool) -> Failure {
    let denied = matches!(
        e,
        PolicyFileError::Write { source, .. } | PolicyFileError::Read { source, .. }
            if source.kind() == std::io::ErrorKind::PermissionDenied
    );
    if denied && system {
        return Failure::failed(format!(
            "cannot write the system policy {shown}: permission denied"
        ))
        .hint("the system policy is for administrators: run this as root (e.g. with sudo)");
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    let f = Failure::failed(text);
    match e {
        PolicyFileError::Invalid { .. } => f.hint(format!(
            "fix or move {shown}; kernels will not rewrite a file it cannot read"
        )),
        PolicyFileError::Write { .. } => f.hint(format!(
            "make {shown} and its directory writable (check `ls -ld` and `lsattr -d`), then run this again"
        )),
        _ => f,
    }
}
