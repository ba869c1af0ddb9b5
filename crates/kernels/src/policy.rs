//! The protection policy: which kernels and environments must not be removed, replaced,
//! shadowed or pruned, where each rule comes from, and the decisions every mutating command
//! asks for before it changes anything.
//!
//! Fact, decision, refusal: callers gather facts (a [`Discovery`](kernelspec::Discovery),
//! [`envs::Environment`]s), a check function of [`Policy`] decides, and a [`Refusal`] (exit 3
//! in the CLI) says what is protected and by which source, with a hint. There is no override:
//! no flag bypasses an administrator's policy or a frozen environment.
//!
//! # Sources (merged; protection is the union)
//!
//! 1. **Built-in defaults** ([`builtin_entries`]): the conda base environment, the cloud image's
//!    environments (`azureml_py36`, `azureml_py38`, `azureml_py310_sdkv2`, `jupyter-env`),
//!    kernels (`python3-azureml`, `python38-azureml`, `python310-sdkv2`, `azureml_py36`,
//!    `azureml_py38`) and display names. They protect these where they exist; none is required.
//! 2. **The system file** ([`vars::DEFAULT_SYSTEM_POLICY`], always read, and
//!    [`vars::KERNELS_SYSTEM_POLICY`] besides it when set: the variable can add a file, never
//!    replace the fixed one): written by an administrator (`kernels protect --system`). It is
//!    ignored, with a warning, when it is writable by group or others, sits in a directory
//!    anyone may replace it in, or is owned by someone other than root and the user running
//!    `kernels`. One that exists but cannot be read (unreadable, not a regular file, too
//!    large, invalid) fails closed: every removal, prune and registration is refused
//!    ([`Refusal::PolicyUnusable`]) until it is fixed.
//! 3. **The user file** (`$XDG_CONFIG_HOME/kernels/policy.json`, else
//!    `~/.config/kernels/policy.json`): the user's own additions (`kernels protect`). It can
//!    only add protection; nothing in it weakens another source.
//!
//! The file format is described in [`PolicyDoc`]. CEP 22 frozen environments
//! (`conda-meta/frozen`) are honoured on top: a frozen environment is never changed, not even
//! by installing packages into it.

mod builtin;
mod check;
mod confusable;
mod file;
mod load;
mod protect;
mod refusal;
pub mod vars;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use builtin::builtin_entries;
pub use check::{frozen_env_of_kernel_dir, Occupant, RegisterWarning};
pub use confusable::{display_name_key, same_display_name};
pub use file::{Addition, PolicyDoc, PolicyFileError, MAX_POLICY_BYTES, POLICY_VERSION};
pub use load::{PolicyPaths, SourceReport, SourceState};
pub use protect::{
    closest_names, plan_protect, snapshot_additions, write_additions, ProtectError, ProtectTarget,
};
pub use refusal::{Clash, EnvAction, KernelAction, Protection, Refusal};

/// Where a policy entry comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "path", rename_all = "kebab-case")]
pub enum Source {
    /// Compiled into `kernels`.
    BuiltIn,
    /// The administrator's system policy file.
    System(#[serde(serialize_with = "crate::serde_util::path")] PathBuf),
    /// The user's policy file.
    User(#[serde(serialize_with = "crate::serde_util::path")] PathBuf),
}

impl Source {
    /// A stable word for JSON and tables: `built-in`, `system`, `user`.
    pub fn word(&self) -> &'static str {
        match self {
            Source::BuiltIn => "built-in",
            Source::System(_) => "system",
            Source::User(_) => "user",
        }
    }

    /// The file, for file sources.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Source::BuiltIn => None,
            Source::System(p) | Source::User(p) => Some(p),
        }
    }

    /// Ordering for reports: the administrator's word first, then the defaults, then the user.
    fn rank(&self) -> u8 {
        match self {
            Source::System(_) => 0,
            Source::BuiltIn => 1,
            Source::User(_) => 2,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::BuiltIn => f.write_str("built-in defaults"),
            Source::System(p) => write!(f, "system policy {}", p.display()),
            Source::User(p) => write!(f, "user policy {}", p.display()),
        }
    }
}

/// What a policy entry protects.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Target {
    /// A kernel by name (stored lowercase; matched case-insensitively).
    Kernel(String),
    /// Any kernel with this display name (matched exactly, trimmed).
    DisplayName(String),
    /// An environment by name (conda names; matched exactly).
    EnvName(String),
    /// An environment by prefix (matched after resolving symlinks).
    EnvPath(#[serde(serialize_with = "crate::serde_util::path")] PathBuf),
    /// The root ("base") environment of any conda installation.
    CondaBase,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Kernel(n) => write!(f, "kernel `{n}`"),
            Target::DisplayName(n) => write!(f, "display name \"{n}\""),
            Target::EnvName(n) => write!(f, "environment `{n}`"),
            Target::EnvPath(p) => write!(f, "environment {}", p.display()),
            Target::CondaBase => f.write_str("the conda base environment"),
        }
    }
}

/// One rule of the effective policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// What it protects.
    pub target: Target,
    /// Whether `kernels doctor` must find it present and healthy.
    pub required: bool,
    /// Where it comes from.
    pub source: Source,
    /// Why, as the file says (shown in refusals).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Entry {
    fn protection(&self) -> Protection {
        Protection {
            target: self.target.clone(),
            source: self.source.clone(),
            reason: self.reason.clone(),
        }
    }
}

/// The effective protection policy: every entry of every source, and what each source said.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    entries: Vec<Entry>,
    /// What each source contributed (or why it was ignored), in merge order.
    pub sources: Vec<SourceReport>,
    /// Warnings worth showing (an ignored system file, skipped entries), one sentence each.
    pub warnings: Vec<String>,
}

impl Policy {
    /// A policy made of exactly these entries (tests, and callers that build their own).
    pub fn from_entries(entries: Vec<Entry>) -> Policy {
        Policy {
            entries,
            sources: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Every entry, in merge order (built-in, system, user).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The strongest entry among `matches` (system before built-in before user).
    fn strongest<'a>(matches: impl Iterator<Item = &'a Entry>) -> Option<&'a Entry> {
        matches.min_by_key(|e| e.source.rank())
    }

    /// Whether a system policy file was present but could not be used (doctor reports this
    /// as a problem: the administrator's rules are not in force).
    pub fn system_file_unusable(&self) -> Option<&SourceReport> {
        self.sources.iter().find(|s| {
            matches!(s.source, Source::System(_))
                && matches!(
                    s.state,
                    SourceState::Ignored { .. } | SourceState::Unusable { .. }
                )
        })
    }

    /// A system policy file that exists but cannot be read or understood: nobody can tell
    /// what it protects, so every check that could harm a protected item refuses (fail
    /// closed) while this is `Some`.
    pub fn fails_closed(&self) -> Option<&SourceReport> {
        self.sources.iter().find(|s| {
            matches!(s.source, Source::System(_)) && matches!(s.state, SourceState::Unusable { .. })
        })
    }
}

/// Whether two paths name the same directory (equal, or equal after resolving symlinks).
pub(crate) fn same_path(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
