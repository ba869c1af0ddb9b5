//! `kernels doctor`: is every kernel able to start, and is every protected item present and
//! healthy?
//!
//! Static checks, per kernel Jupyter would start (the winning copy of each name):
//!
//! 1. the directory name is a valid kernel name;
//! 2. `kernel.json` loads, and is launchable (non-string `argv`/`env` values are problems;
//!    other lint facts are warnings);
//! 3. the launcher (`argv[0]`) exists, on `PATH` for bare names;
//! 4. the environment behind the wrappers ([`crate::wrappers`]) exists, and the interpreter
//!    inside it;
//! 5. for ipykernel kernels, `ipykernel` is installed in that environment;
//! 6. for kernels registered by `kernels add`, the activation baked into `env` still matches
//!    what activating the environment gives now (drift is a warning);
//! 7. shadowing (this kernel hides another copy) and duplicate display names (warnings).
//!
//! Then every policy entry ([`crate::policy`]): a required entry that is missing is a
//! problem; a present protected kernel that is broken, or hidden behind another copy of its
//! name, is a problem; a protected environment without its interpreter is a problem.
//!
//! With `--boot` ([`boot_kernels`]) every checked kernel is started at once through the
//! [`boot`] crate, asked for `kernel_info`, and shut down; one that dies, hangs past the
//! timeout or replies with an error is a problem.
//!
//! The verdict: [`DoctorReport::problems`] is 0 when all is well (exit 0), else exit 4.

mod boot;
mod drift;
mod kernel;
mod machine;
mod protected;

use std::path::PathBuf;

use serde::Serialize;

use crate::policy::{Entry, Policy, Protection};
use crate::wrappers::Located;

pub use self::boot::{boot_kernels, launch_spec, BootResult};
pub use machine::Machine;
pub use protected::check_entries as check_protected;

/// How a check came out, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Fine.
    Ok,
    /// A fact worth knowing; not a problem.
    Info,
    /// Probably fine, but surprising or fragile.
    Warning,
    /// Broken: the kernel will not start, or a protected item is missing.
    Problem,
}

impl Status {
    /// The one-character mark for human output.
    pub fn mark(self) -> &'static str {
        match self {
            Status::Ok => "✓",
            Status::Info => "·",
            Status::Warning => "!",
            Status::Problem => "✗",
        }
    }
}

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// A stable identifier: `name`, `spec`, `launcher`, `env`, `interpreter`, `ipykernel`,
    /// `drift`, `shadowing`, `display_name`, `protected`, `boot`, `policy`, `discovery`,
    /// `half_made`, `journal`.
    pub check: &'static str,
    /// The outcome.
    pub status: Status,
    /// One sentence.
    pub message: String,
    /// Supporting lines (a kernel's last stderr lines, drifted variables).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

impl Check {
    /// A check without details.
    pub fn new(check: &'static str, status: Status, message: impl Into<String>) -> Check {
        Check {
            check,
            status,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// Adds supporting lines.
    pub fn with_details(mut self, details: Vec<String>) -> Check {
        self.details = details;
        self
    }
}

/// What doctor found about one kernel.
#[derive(Debug, Clone, Serialize)]
pub struct KernelReport {
    /// The kernel name.
    pub name: String,
    /// Its spec directory.
    #[serde(serialize_with = "crate::serde_util::path")]
    pub resource_dir: PathBuf,
    /// Where that directory comes from (`user`, `system`, ...).
    pub scope: &'static str,
    /// `display_name`, when the spec loads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `language`, when the spec loads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The rule protecting it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protected: Option<Protection>,
    /// Where its argv leads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch: Option<Located>,
    /// The checks, in the order of the module docs.
    pub checks: Vec<Check>,
    /// The `--boot` result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot: Option<BootResult>,
}

impl KernelReport {
    /// The worst status among its checks.
    pub fn status(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Ok)
    }
}

/// What doctor found about one policy entry.
#[derive(Debug, Clone, Serialize)]
pub struct ProtectedReport {
    /// The entry.
    pub entry: Entry,
    /// Whether what it names exists.
    pub present: bool,
    /// The verdict.
    pub status: Status,
    /// One sentence.
    pub message: String,
    /// The kernel dirs or prefixes it matched.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "crate::serde_util::paths"
    )]
    pub matches: Vec<PathBuf>,
}

/// Everything doctor found.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// One report per checked kernel, in discovery order.
    pub kernels: Vec<KernelReport>,
    /// One report per policy entry (only when the whole machine is checked).
    pub protected: Vec<ProtectedReport>,
    /// Findings about the machine: the policy files, unreadable kernel dirs.
    pub machine: Vec<Check>,
}

impl DoctorReport {
    /// How many problems were found (the exit code is 4 when this is not 0).
    pub fn problems(&self) -> usize {
        self.count(Status::Problem)
    }

    /// How many warnings were found.
    pub fn warnings(&self) -> usize {
        self.count(Status::Warning)
    }

    fn count(&self, status: Status) -> usize {
        let kernel_checks = self
            .kernels
            .iter()
            .flat_map(|k| &k.checks)
            .filter(|c| c.status == status)
            .count();
        let protected = self.protected.iter().filter(|p| p.status == status).count();
        let machine = self.machine.iter().filter(|c| c.status == status).count();
        kernel_checks + protected + machine
    }
}

/// Runs the static checks on the kernels named in `selected` (lowercase names; every kernel
/// when empty) and, when the whole machine is checked, on every policy entry.
///
/// Names that match no kernel are the caller's business (the CLI refuses them first).
pub fn check(machine: &Machine<'_>, policy: &Policy, selected: &[String]) -> DoctorReport {
    let chosen: Vec<&kernelspec::FoundKernel> = machine
        .discovery
        .kernels
        .iter()
        .filter(|k| selected.is_empty() || selected.iter().any(|s| s == &k.name))
        .collect();
    let kernels: Vec<KernelReport> = chosen
        .iter()
        .map(|k| kernel::check_kernel(k, machine, policy))
        .collect();
    let mut machine_checks = Vec::new();
    let mut protected = Vec::new();
    if selected.is_empty() {
        protected = protected::check_entries_with(machine, policy, &kernels);
        if let Some(report) = policy.system_file_unusable() {
            let reason = report.state.reason().unwrap_or_default().to_string();
            machine_checks.push(Check::new(
                "policy",
                Status::Problem,
                format!("the {} is not in force: {reason}", report.source),
            ));
        }
        for w in &policy.warnings {
            if !w.contains(" is ignored: ") {
                machine_checks.push(Check::new("policy", Status::Warning, w.clone()));
            }
        }
        for e in machine
            .envs
            .iter()
            .filter(|e| crate::guard::is_half_made(&e.prefix))
        {
            machine_checks.push(Check::new(
                "half_made",
                Status::Warning,
                format!(
                    "environment {} is half-made (a kernels run was killed while creating it); \
                     the next kernels command that changes something deletes it while that \
                     run's journal is there, else `kernels add` of its kernel rebuilds it",
                    e.prefix.display()
                ),
            ));
        }
        for p in &machine.discovery.problems {
            let cause = p.source.to_string();
            machine_checks.push(Check::new(
                "discovery",
                Status::Warning,
                format!("{p}: {cause}; kernels there are not checked"),
            ));
        }
    }
    DoctorReport {
        kernels,
        protected,
        machine: machine_checks,
    }
}
