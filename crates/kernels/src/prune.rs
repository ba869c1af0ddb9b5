//! `kernels prune`: remove kernelspecs whose interpreter or environment is gone, seen through
//! wrappers ([`crate::wrappers`]), and never a protected one.
//!
//! A kernel is pruned only when something it needs is **definitely** gone: an absolute
//! launcher, interpreter, environment prefix, pixi manifest or uv project that does not exist
//! ([`Located::gone`]). It is kept, and reported, when:
//!
//! * the policy protects it ([`Policy::check_prune_kernel`]: by name, by display name, or because
//!   it sits inside a frozen environment), or the environment it points at is protected by path;
//! * it cannot be told for sure: an environment *name* no known environment has (conda may just
//!   not be found), a bare program not on `PATH`, a `kernel.json` that does not load.
//!
//! Every copy is considered, the ones Jupyter starts and the ones they hide. Removal is a
//! [`RemovalPlan`] ([`PrunePlan::removal`]) run through the durable journal: every stale
//! kernelspec goes, or on a failure none does.

use std::path::PathBuf;

use kernelspec::FoundKernel;
use serde::Serialize;

use crate::doctor::Machine;
use crate::policy::{same_path, Policy, Refusal, Target};
use crate::removal::{KernelRemoval, RemovalPlan};
use crate::wrappers::{EnvStatus, Gone, Located, ProgramStatus};

/// A kernel prune will remove.
#[derive(Debug, Clone, Serialize)]
pub struct Stale {
    /// The kernel name.
    pub name: String,
    /// Its spec directory.
    #[serde(serialize_with = "crate::serde_util::path")]
    pub resource_dir: PathBuf,
    /// Where that directory comes from.
    pub scope: &'static str,
    /// What is gone.
    pub gone: Gone,
    /// Why, in one sentence.
    pub reason: String,
}

/// A kernel prune leaves in place, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Kept {
    /// The kernel name.
    pub name: String,
    /// Its spec directory.
    #[serde(serialize_with = "crate::serde_util::path")]
    pub resource_dir: PathBuf,
    /// Why it stays.
    pub reason: String,
    /// The refusal, when the policy protects it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
}

/// What prune would do.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PrunePlan {
    /// Kernels to remove.
    pub remove: Vec<Stale>,
    /// Kernels that look stale or broken but stay.
    pub kept: Vec<Kept>,
    /// How many kernels were examined.
    pub examined: usize,
}

/// Decides, for every kernel on the machine, whether prune removes it.
pub fn plan_prune(machine: &Machine<'_>, policy: &Policy) -> PrunePlan {
    let mut plan = PrunePlan::default();
    for kernel in machine
        .discovery
        .kernels
        .iter()
        .chain(machine.discovery.shadowed.iter())
    {
        plan.examined += 1;
        let Some(located) = machine.locate(kernel) else {
            let why = match &kernel.spec {
                Err(e) => e.to_string(),
                Ok(_) => "its spec cannot be read".to_string(),
            };
            plan.kept.push(kept(
                kernel,
                format!("kernel.json does not load ({why}); not pruned"),
                None,
            ));
            continue;
        };
        match located.gone() {
            Some(gone) => decide_gone(kernel, &located, gone, policy, &mut plan),
            None => {
                if let Some(why) = unsure(&located) {
                    plan.kept.push(kept(kernel, why, None));
                }
            }
        }
    }
    plan
}

fn kept(kernel: &FoundKernel, reason: String, refusal: Option<Refusal>) -> Kept {
    Kept {
        name: kernel.name.clone(),
        resource_dir: kernel.resource_dir.clone(),
        reason,
        refusal,
    }
}

fn decide_gone(
    kernel: &FoundKernel,
    located: &Located,
    gone: Gone,
    policy: &Policy,
    plan: &mut PrunePlan,
) {
    if let Err(refusal) = policy.check_prune_kernel(kernel) {
        plan.kept.push(kept(
            kernel,
            format!("{gone}, but it is protected: {refusal}"),
            Some(refusal),
        ));
        return;
    }
    if let EnvStatus::Missing(prefix) = &located.env {
        let protected_env = policy.entries().iter().find(|e| match &e.target {
            Target::EnvPath(p) => p == prefix || same_path(p, prefix),
            _ => false,
        });
        if let Some(entry) = protected_env {
            plan.kept.push(kept(
                kernel,
                format!(
                    "{gone}, but that environment is protected by the {} (restore it rather than drop its kernel)",
                    entry.source
                ),
                None,
            ));
            return;
        }
    }
    plan.remove.push(Stale {
        name: kernel.name.clone(),
        resource_dir: kernel.resource_dir.clone(),
        scope: kernel.scope.as_str(),
        reason: gone.to_string(),
        gone,
    });
}

/// Why a kernel that is not definitely gone still looks stale, if it does.
fn unsure(located: &Located) -> Option<String> {
    if let EnvStatus::UnknownName(name) = &located.env {
        return Some(format!(
            "no environment named `{name}` is known here, but a name cannot prove it is gone; not pruned"
        ));
    }
    if let ProgramStatus::NotOnPath(name) = &located.launcher {
        if !located.launch.jupyter_substitutes_python() {
            return Some(format!(
                "`{name}` is not on PATH here, which may differ from Jupyter's; not pruned"
            ));
        }
    }
    None
}

impl PrunePlan {
    /// The removals, as the steps [`crate::removal::execute_removal`] runs through the
    /// journal (all of them, or on a failure none).
    pub fn removal(&self) -> RemovalPlan {
        RemovalPlan::new(
            self.remove
                .iter()
                .map(|s| KernelRemoval {
                    name: s.name.clone(),
                    dir: s.resource_dir.clone(),
                    scope: s.scope,
                    env: None,
                })
                .collect(),
            Vec::new(),
        )
    }
}
