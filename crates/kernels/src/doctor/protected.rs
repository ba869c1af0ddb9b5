//! Checking every policy entry: is what it protects present, and healthy?

use std::path::PathBuf;

use envs::{EnvKind, Environment};
use kernelspec::FoundKernel;

use super::{kernel, KernelReport, Machine, ProtectedReport, Status};
use crate::policy::{same_path, Entry, Policy, Target};

/// One report per policy entry, in policy order: is what it protects present and healthy?
pub fn check_entries(machine: &Machine<'_>, policy: &Policy) -> Vec<ProtectedReport> {
    check_entries_with(machine, policy, &[])
}

/// [`check_entries`], reusing the kernel reports already made (`done`) instead of checking
/// those kernels again.
pub(super) fn check_entries_with(
    machine: &Machine<'_>,
    policy: &Policy,
    done: &[KernelReport],
) -> Vec<ProtectedReport> {
    policy
        .entries()
        .iter()
        .map(|entry| match &entry.target {
            Target::Kernel(name) => kernel_entry(entry, machine, policy, done, |k| &k.name == name),
            Target::DisplayName(d) => kernel_entry(entry, machine, policy, done, |k| {
                k.spec
                    .as_ref()
                    .is_ok_and(|s| s.display_name.trim().to_lowercase() == d.trim().to_lowercase())
            }),
            Target::EnvName(name) => {
                let found: Vec<&Environment> = machine.envs_named(name);
                env_entry(entry, &found)
            }
            Target::EnvPath(path) => {
                let found: Vec<Environment> = machine
                    .envs
                    .iter()
                    .find(|e| same_path(&e.prefix, path))
                    .cloned()
                    .or_else(|| machine.inspect(path))
                    .into_iter()
                    .collect();
                env_entry(entry, &found.iter().collect::<Vec<_>>())
            }
            Target::CondaBase => {
                let found: Vec<&Environment> = machine
                    .envs
                    .iter()
                    .filter(|e| e.kind == EnvKind::CondaBase)
                    .collect();
                env_entry(entry, &found)
            }
        })
        .collect()
}

fn absent(entry: &Entry, what: &str) -> ProtectedReport {
    let (status, message) = if entry.required {
        (
            Status::Problem,
            format!(
                "{} is required by the {} but {what}",
                entry.target, entry.source
            ),
        )
    } else {
        (
            Status::Info,
            format!("{} is not on this machine (not required)", entry.target),
        )
    };
    ProtectedReport {
        entry: entry.clone(),
        present: false,
        status,
        message,
        matches: Vec::new(),
    }
}

fn kernel_entry(
    entry: &Entry,
    machine: &Machine<'_>,
    policy: &Policy,
    done: &[KernelReport],
    matches: impl Fn(&FoundKernel) -> bool,
) -> ProtectedReport {
    let winners: Vec<&FoundKernel> = machine
        .discovery
        .kernels
        .iter()
        .filter(|k| matches(k))
        .collect();
    let hidden: Vec<&FoundKernel> = machine
        .discovery
        .shadowed
        .iter()
        .filter(|k| matches(k))
        .collect();
    if winners.is_empty() && hidden.is_empty() {
        return absent(entry, "no such kernel exists");
    }
    let mut dirs: Vec<PathBuf> = winners.iter().map(|k| k.resource_dir.clone()).collect();
    dirs.extend(hidden.iter().map(|k| k.resource_dir.clone()));
    let mut problems = Vec::new();
    for k in &hidden {
        let by = k
            .shadowed_by
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        problems.push(format!(
            "the copy at {} is hidden by {by}, which Jupyter starts instead",
            k.resource_dir.display()
        ));
    }
    for k in &winners {
        let fresh;
        let report = match done.iter().find(|r| r.resource_dir == k.resource_dir) {
            Some(r) => r,
            None => {
                fresh = kernel::check_kernel(k, machine, policy);
                &fresh
            }
        };
        for c in report.checks.iter().filter(|c| c.status == Status::Problem) {
            problems.push(format!("{}: {}", k.name, c.message));
        }
    }
    present(entry, &problems, "", dirs)
}

fn env_entry(entry: &Entry, found: &[&Environment]) -> ProtectedReport {
    if found.is_empty() {
        return absent(entry, "it does not exist");
    }
    let broken: Vec<String> = found
        .iter()
        .filter(|e| e.python.is_none())
        .map(|e| format!("{} has no bin/python", e.prefix.display()))
        .collect();
    let frozen = if found.iter().any(|e| e.frozen.is_some()) {
        ", frozen"
    } else {
        ""
    };
    let prefixes = found.iter().map(|e| e.prefix.to_path_buf()).collect();
    present(entry, &broken, frozen, prefixes)
}

/// The report on an entry whose target is on this machine (at `matches`): healthy when
/// there are no `problems`, otherwise a problem naming them all. `note` is appended to the
/// entry's source in the healthy message (e.g. `", frozen"`).
fn present(
    entry: &Entry,
    problems: &[String],
    note: &str,
    matches: Vec<PathBuf>,
) -> ProtectedReport {
    let (status, message) = if problems.is_empty() {
        (
            Status::Ok,
            format!(
                "{} is present and healthy ({}{note})",
                entry.target, entry.source
            ),
        )
    } else {
        (
            Status::Problem,
            format!(
                "{} is protected ({}) but {}",
                entry.target,
                entry.source,
                problems.join("; ")
            ),
        )
    };
    ProtectedReport {
        entry: entry.clone(),
        present: true,
        status,
        message,
        matches,
    }
}
