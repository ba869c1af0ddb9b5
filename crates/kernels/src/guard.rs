//! The prefix guard: an environment being built says so from its first byte.
//!
//! A run that creates an environment first makes the prefix directory itself, records it as
//! its own ([`crate::ownership::record_created`]: canonical path, device and inode) and writes
//! the environment's marker ([`crate::ENV_MARKER`]) in the state **installing**, naming the
//! run (pid and start time). Only then does the tool (venv, uv, conda) fill the prefix.
//! When every environment step is done, the marker is rewritten as **ready**, and only then
//! is the kernelspec written. Both writes are fsync'd.
//!
//! An environment whose marker says *installing* while the run it names is gone is
//! **half-made** ([`state`]): a run was killed (SIGKILL, OOM, power loss) before it
//! finished. The durable journal normally lets the next locked command delete it; the guard
//! is what every other reader sees meanwhile, and what is left if the journal is lost:
//!
//! * the planner never adopts it: `add` of the same kernel rebuilds it when the user's
//!   records say this user's `kernels` made it, and refuses otherwise; `install` and
//!   `add --existing` refuse it;
//! * `kernels envs` lists it as half-made, never as a usable environment.
//!
//! conda-family tools that refuse a non-empty prefix (mamba 2, micromamba) get an empty
//! directory, and the marker is written as soon as they return; in that window only the
//! journal and the ownership record speak for the environment (see `docs/crash-safety.md`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::spec_for_env::BackendLabel;

/// Where an environment `kernels` creates is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuardState {
    /// A run is still making it.
    Installing,
    /// Complete (also what a marker without a state means: markers written before the guard).
    #[default]
    Ready,
}

impl GuardState {
    pub(crate) fn is_ready(&self) -> bool {
        *self == GuardState::Ready
    }
}

/// The run making an environment: its pid and start time (so a reused pid is not mistaken
/// for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The process id.
    pub pid: u32,
    /// Its start time (clock ticks after boot, `/proc/PID/stat` field 22).
    pub started: u64,
}

impl Owner {
    /// This process.
    pub fn this_process() -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            started: start_time(pid).unwrap_or(0),
        }
    }

    /// Whether the process is still running (the same process, not a reused pid).
    pub fn is_alive(&self) -> bool {
        start_time(self.pid).is_some_and(|s| s == self.started)
    }
}

/// What the guard of a prefix says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    /// No marker of ours, or a complete environment.
    NotGuarded,
    /// A live run is making it.
    Building(Owner),
    /// The run that was making it is gone.
    HalfMade,
}

/// The guard state of the environment at `prefix` (read only).
pub fn state(prefix: &Path) -> Guarded {
    match crate::marker::read_marker(prefix) {
        Some(m) if m.state == GuardState::Installing => match m.owner {
            Some(o) if o.is_alive() => Guarded::Building(o),
            _ => Guarded::HalfMade,
        },
        _ => Guarded::NotGuarded,
    }
}

/// True when `prefix` is a half-made environment ([`state`] is [`Guarded::HalfMade`]).
pub fn is_half_made(prefix: &Path) -> bool {
    state(prefix) == Guarded::HalfMade
}

/// Writes the guard *installing* for this process into `prefix` (an existing directory).
pub fn write_installing(prefix: &Path, backend: BackendLabel) -> std::io::Result<()> {
    crate::marker::write_marker(
        prefix,
        backend,
        GuardState::Installing,
        Some(Owner::this_process()),
    )
}

/// Rewrites the guard of `prefix` as *ready*: the environment is complete.
pub fn mark_ready(prefix: &Path, backend: BackendLabel) -> std::io::Result<()> {
    crate::marker::write_marker(prefix, backend, GuardState::Ready, None)
}

/// Whether `backend`'s tool keeps a file that is in the prefix before it starts: `python -m
/// venv`, `uv venv --allow-existing` and conda do; mamba 2 and micromamba refuse a non-empty
/// prefix, so they get the guard when they return. rattler (in-process) links around it.
pub fn tool_keeps_guard(kind: envs::BackendKind, tools: &envs::Tools) -> bool {
    match kind {
        envs::BackendKind::Venv | envs::BackendKind::Rattler => true,
        envs::BackendKind::Conda => tools
            .conda
            .as_ref()
            .is_some_and(|t| t.flavor == envs::CondaFlavor::Conda),
        envs::BackendKind::Mamba | envs::BackendKind::Micromamba => false,
    }
}

/// A process's start time, from `/proc/PID/stat` (field 22, after the parenthesised name).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    // Fields after the name start at field 3 (state); the start time is field 22.
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installing_by_a_live_run_is_building_by_a_dead_one_half_made_and_ready_is_not_guarded() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        assert_eq!(state(p), Guarded::NotGuarded);
        write_installing(p, BackendLabel::UV).unwrap();
        assert!(matches!(state(p), Guarded::Building(o) if o.pid == std::process::id()));
        assert_eq!(crate::read_env_marker(p), Some(BackendLabel::UV));
        // The same pid with another start time is another process: the owner is gone.
        let dead = Owner {
            pid: std::process::id(),
            started: Owner::this_process().started + 1,
        };
        crate::marker::write_marker(p, BackendLabel::UV, GuardState::Installing, Some(dead))
            .unwrap();
        assert_eq!(state(p), Guarded::HalfMade);
        assert!(is_half_made(p));
        mark_ready(p, BackendLabel::UV).unwrap();
        assert_eq!(state(p), Guarded::NotGuarded);
        // A marker written before the guard existed has no state: ready.
        std::fs::write(
            p.join(crate::ENV_MARKER),
            r#"{"created_by": "kernels", "backend": "uv"}"#,
        )
        .unwrap();
        assert_eq!(state(p), Guarded::NotGuarded);
    }

    #[test]
    fn a_child_process_is_alive_until_it_is_reaped() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let started = start_time(child.id()).unwrap();
        let owner = Owner {
            pid: child.id(),
            started,
        };
        assert!(owner.is_alive());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!owner.is_alive());
    }
}
