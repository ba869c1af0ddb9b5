//! Deleting an environment (`remove --with-env`): which one may go, and deleting exactly it.
//!
//! Paths are facts, not strings. The prefix a kernel records is made canonical (absolute,
//! `..` and symlinks resolved) before anything is decided, and then it may be deleted only
//! when all of these hold:
//!
//! 1. the policy does not protect it, and it is not frozen;
//! 2. nothing that must stay lies at or under it ([`Occupant`]): a protected environment,
//!    a conda installation, a directory Jupyter finds kernels in or another kernel's
//!    directory, or any other environment (found by walking the prefix, so one `kernels`
//!    knows nothing of still counts);
//! 3. `kernels` created it, for the user running now ([`crate::ownership::check_deletable`]).
//!
//! The deletion itself is a step of a [`crate::removal::RemovalPlan`]: it takes the prefix
//! lock ([`crate::prefix_lock`]), checks 3 again ([`recheck`]: the directory is still the one
//! recorded), is journaled, deletes it and drops its record.

use envs::{EnvError, EnvKind, Environment, HostEnv};
use serde::Serialize;
use std::path::{Path, PathBuf};

use crate::doctor::Machine;
use crate::ownership::{self, NotOurs};
use crate::policy::{Occupant, Policy, Refusal, Target};
use crate::prefix_lock::PrefixLockError;
use crate::spec_for_env::BackendLabel;

/// How deep below a prefix other environments are looked for.
const MAX_WALK_DEPTH: usize = 12;

/// An environment cleared for deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvDeletion {
    /// The prefix as the kernel records it.
    #[serde(serialize_with = "crate::serde_util::path")]
    pub recorded: PathBuf,
    /// The canonical prefix: what is deleted.
    #[serde(rename = "target", serialize_with = "crate::serde_util::path")]
    pub prefix: PathBuf,
    /// How `kernels` made it.
    pub backend: BackendLabel,
    /// Its size on disk, in bytes (blocks allocated, hard links counted once).
    pub bytes: u64,
}

/// Why an environment may not be deleted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Undeletable {
    /// The policy forbids it (exit 3).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// `kernels` did not create it (for this user).
    #[error("the environment {} was not created by kernels: {why}", prefix.display())]
    NotOurs {
        /// The environment, as the kernel records it.
        prefix: PathBuf,
        /// Why not.
        why: NotOurs,
    },
}

/// Why a planned deletion did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    /// The prefix lock could not be taken.
    #[error(transparent)]
    Lock(#[from] PrefixLockError),
    /// The environment changed since the plan: it is no longer the one `kernels` created.
    #[error("{} changed since it was checked ({why}); it was not deleted", prefix.display())]
    Changed {
        /// The prefix.
        prefix: PathBuf,
        /// What no longer holds.
        why: NotOurs,
    },
    /// The tool or the file system failed.
    #[error(transparent)]
    Env(#[from] EnvError),
}

impl DeleteError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            DeleteError::Env(e) => e.hint(),
            DeleteError::Lock(PrefixLockError::Busy { .. }) => Some(
                "another kernels run is using that environment; try again when it is done".into(),
            ),
            _ => None,
        }
    }
}

/// Decides whether the environment a kernel records at `recorded` may be deleted (see the
/// module docs); `Ok(None)` when nothing is there any more. `removing` are the spec
/// directories being removed in the same run (their kernels do not keep it).
pub fn plan_env_deletion(
    recorded: &Path,
    machine: &Machine<'_>,
    policy: &Policy,
    removing: &[PathBuf],
) -> Result<Option<EnvDeletion>, Undeletable> {
    let Ok(prefix) = std::fs::canonicalize(recorded) else {
        return Ok(None);
    };
    let env = Environment::inspect(&prefix).unwrap_or_else(|| Environment {
        name: None,
        prefix: envs::Prefix::from_recorded(prefix.clone()),
        kind: EnvKind::Unknown,
        python: None,
        python_version: None,
        has_ipykernel: false,
        frozen: envs::read_frozen(&prefix),
    });
    policy.check_delete_env(&env, &occupants(&prefix, machine, policy, removing))?;
    let (backend, _) =
        ownership::check_deletable(machine.host, &prefix).map_err(|why| Undeletable::NotOurs {
            prefix: recorded.to_path_buf(),
            why,
        })?;
    Ok(Some(EnvDeletion {
        recorded: recorded.to_path_buf(),
        bytes: disk_usage(&prefix),
        prefix,
        backend,
    }))
}

/// The space the tree at `dir` takes on disk (like `du -s`: allocated blocks, each inode
/// once, symlinks not followed).
pub fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.nlink() <= 1 || seen.insert((m.dev(), m.ino())))
        .map(|m| m.blocks() * 512)
        .sum()
}

/// Everything on the machine that must survive deleting `prefix` and may lie under it
/// (canonical paths; see [`Occupant`]).
pub fn occupants(
    prefix: &Path,
    machine: &Machine<'_>,
    policy: &Policy,
    removing: &[PathBuf],
) -> Vec<Occupant> {
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    let mut out = Vec::new();
    for entry in policy.entries() {
        if let Target::EnvPath(p) = &entry.target {
            out.extend(canon(p).map(Occupant::ProtectedEnv));
        }
    }
    for env in &machine.envs {
        let Some(c) = canon(&env.prefix) else {
            continue;
        };
        if env.kind == EnvKind::CondaBase {
            out.push(Occupant::CondaRoot(c.clone()));
        }
        if policy.env_protection(env).is_some() {
            out.push(Occupant::ProtectedEnv(c));
        }
    }
    out.extend(
        machine
            .conda_roots
            .iter()
            .filter_map(|r| canon(r))
            .map(Occupant::CondaRoot),
    );
    out.extend(
        machine
            .paths
            .kernel_dirs()
            .iter()
            .filter_map(|d| canon(&d.path))
            .map(Occupant::KernelDir),
    );
    let discovery = &machine.discovery;
    for k in discovery.kernels.iter().chain(discovery.shadowed.iter()) {
        if !removing.contains(&k.resource_dir) {
            out.extend(canon(&k.resource_dir).map(Occupant::KernelDir));
        }
    }
    out.extend(nested(prefix));
    out
}

/// Environments and conda installations below `prefix` (not `prefix` itself), found on disk
/// without following symlinks.
fn nested(prefix: &Path) -> Vec<Occupant> {
    let mut out = Vec::new();
    if prefix.join("condabin").is_dir() {
        out.push(Occupant::CondaRoot(prefix.to_path_buf()));
    }
    let walk = walkdir::WalkDir::new(prefix)
        .min_depth(2)
        .max_depth(MAX_WALK_DEPTH)
        .follow_links(false);
    for entry in walk.into_iter().filter_map(Result::ok) {
        let name = entry.file_name();
        let is_env_mark = (name == "conda-meta" && entry.file_type().is_dir())
            || (name == "pyvenv.cfg" && entry.file_type().is_file());
        let Some(parent) = entry.path().parent() else {
            continue;
        };
        if is_env_mark {
            out.push(Occupant::OtherEnv(parent.to_path_buf()));
        } else if name == "condabin" && entry.file_type().is_dir() {
            out.push(Occupant::CondaRoot(parent.to_path_buf()));
        }
    }
    out
}

/// Checks, under its prefix lock, that an environment [`plan_env_deletion`] cleared is still
/// the one `kernels` created (nothing replaced it since the plan).
pub(crate) fn recheck(deletion: &EnvDeletion, host: &HostEnv) -> Result<(), DeleteError> {
    let why = match ownership::check_deletable(host, &deletion.prefix) {
        Ok((_, canonical)) if canonical == deletion.prefix => return Ok(()),
        Ok(_) => NotOurs::Replaced,
        Err(why) => why,
    };
    Err(DeleteError::Changed {
        prefix: deletion.prefix.clone(),
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_below_a_prefix_are_found() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        std::fs::create_dir_all(p.join("conda-meta")).unwrap();
        std::fs::create_dir_all(p.join("envs/azureml_py38/conda-meta")).unwrap();
        std::fs::create_dir_all(p.join("deep/a/b/venv")).unwrap();
        std::fs::write(p.join("deep/a/b/venv/pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        std::fs::write(p.join("pyvenv.cfg"), "").unwrap();
        let mut found = nested(p);
        found.sort_by(|a, b| a.path().cmp(b.path()));
        assert_eq!(
            found,
            [
                Occupant::OtherEnv(p.join("deep/a/b/venv")),
                Occupant::OtherEnv(p.join("envs/azureml_py38")),
            ]
        );
        std::fs::create_dir_all(p.join("condabin")).unwrap();
        assert!(nested(p).contains(&Occupant::CondaRoot(p.to_path_buf())));
    }
}
