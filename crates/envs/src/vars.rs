//! Every environment variable this crate reads, and the [`HostEnv`] snapshot.
//!
//! Library code never calls `std::env` except in [`HostEnv::from_process`]; everything
//! else receives a `&HostEnv`, so tests build their own snapshot (own `HOME`, own `PATH`)
//! and never touch the real user's files.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

/// The user's home directory; the base of `~/.condarc`, `~/.conda/environments.txt`,
/// `~/miniconda3` and the default venv home.
pub const HOME: &str = "HOME";
/// The executable search path, used to find `conda`, `mamba`, `micromamba`, `python3`
/// and `uv`, and as the base `PATH` of every child process.
pub const PATH: &str = "PATH";
/// XDG data directory; the venv home is `$XDG_DATA_HOME/kernels/envs`, and micromamba's
/// default root is `$XDG_DATA_HOME/mamba`.
pub const XDG_DATA_HOME: &str = "XDG_DATA_HOME";

/// Explicit conda-family executable chosen by the user (conda, mamba or micromamba).
/// Checked before every other way of finding one.
pub const KERNELS_CONDA: &str = "KERNELS_CONDA";
/// Explicit base Python interpreter for the venv backend (instead of `python3` on `PATH`).
pub const KERNELS_PYTHON: &str = "KERNELS_PYTHON";
/// Explicit `uv` executable (instead of `uv` on `PATH`).
pub const KERNELS_UV: &str = "KERNELS_UV";
/// When set to `1` (or `true`/`yes`), never use `uv`; the venv backend falls back to
/// `python -m venv` and pip.
pub const KERNELS_NO_UV: &str = "KERNELS_NO_UV";
/// When set to `1` (or `true`/`yes`), never install uv into kernels' own tool directory:
/// without a uv of the user's, the venv backend uses `python -m venv` and pip.
pub const KERNELS_NO_PROVISION_UV: &str = "KERNELS_NO_PROVISION_UV";
/// XDG config directory; pip reads `$XDG_CONFIG_HOME/pip/pip.conf` (default `~/.config`).
pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
/// XDG system config directories; pip reads `DIR/pip/pip.conf` for each (default `/etc/xdg`).
pub const XDG_CONFIG_DIRS: &str = "XDG_CONFIG_DIRS";
/// pip's explicit configuration file (`os.devnull` disables every pip config file).
pub const PIP_CONFIG_FILE: &str = "PIP_CONFIG_FILE";

/// Set by conda's shell integration to `<root>/bin/conda`; the best pointer to conda.
pub const CONDA_EXE: &str = "CONDA_EXE";
/// Set by mamba/micromamba shell integration to the binary's path.
pub const MAMBA_EXE: &str = "MAMBA_EXE";
/// micromamba's (and mamba 2's) root prefix.
pub const MAMBA_ROOT_PREFIX: &str = "MAMBA_ROOT_PREFIX";
/// Extra conda `envs_dirs`, separated by `:`, highest precedence.
pub const CONDA_ENVS_DIRS: &str = "CONDA_ENVS_DIRS";
/// Older alias of [`CONDA_ENVS_DIRS`].
pub const CONDA_ENVS_PATH: &str = "CONDA_ENVS_PATH";
/// Location of an extra `.condarc` file chosen by the user.
pub const CONDARC: &str = "CONDARC";
/// conda's package caches (`pkgs_dirs`), separated by `,`, over every `.condarc`; the
/// rattler backend links from and downloads into them.
pub const CONDA_PKGS_DIRS: &str = "CONDA_PKGS_DIRS";
/// conda's `channel_priority` (`strict`, `flexible`, `disabled`), over every `.condarc`.
pub const CONDA_CHANNEL_PRIORITY: &str = "CONDA_CHANNEL_PRIORITY";
/// XDG cache directory; the rattler backend keeps downloaded channel indexes in
/// `$XDG_CACHE_HOME/kernels/repodata` (default `~/.cache`).
pub const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";
/// Set (never read) to `false` for conda children: conda's `auto_activate_base`
/// (`auto_activate` since conda 25.5, which still reads the old name; setting both is an
/// error). See `CondaDriver`.
pub const CONDA_AUTO_ACTIVATE_BASE: &str = "CONDA_AUTO_ACTIVATE_BASE";

/// The conda roots searched in place of the usual install locations (`:`-separated; set
/// but empty: none), e.g. for a machine whose conda lives elsewhere, or a test that must not
/// find the host's.
pub const KERNELS_CONDA_ROOTS: &str = "KERNELS_CONDA_ROOTS";
/// A snapshot of the process environment, taken once and passed by reference.
///
/// `home` and `path` are parsed from `vars` for convenience; constructors keep them
/// consistent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostEnv {
    /// Every variable whose name and value are valid UTF-8.
    pub vars: BTreeMap<String, String>,
    /// `$HOME`, when set and non-empty.
    pub home: Option<PathBuf>,
    /// `$PATH` split into directories (empty entries dropped).
    pub path: Vec<PathBuf>,
}

impl HostEnv {
    /// Snapshots the current process environment. The only place `std::env` is read.
    pub fn from_process() -> HostEnv {
        HostEnv::from_vars(std::env::vars_os().filter_map(|(k, v)| {
            let k: OsString = k;
            Some((k.into_string().ok()?, v.into_string().ok()?))
        }))
    }

    /// Builds a snapshot from explicit variables (tests, sandboxes).
    pub fn from_vars<I, K, V>(vars: I) -> HostEnv
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars: BTreeMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let home = vars.get(HOME).filter(|h| !h.is_empty()).map(PathBuf::from);
        let path = vars
            .get(PATH)
            .map(|p| split_path_list(p))
            .unwrap_or_default();
        HostEnv { vars, home, path }
    }

    /// The value of `name` when it is set and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// True when `name` is set to `1`, `true` or `yes` (any case).
    pub fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
    }

    /// The user's data directory: `$XDG_DATA_HOME`, else `~/.local/share` (relative when
    /// there is no home).
    pub fn data_home(&self) -> PathBuf {
        match self.get(XDG_DATA_HOME) {
            Some(x) => PathBuf::from(x),
            None => self.home.clone().unwrap_or_default().join(".local/share"),
        }
    }

    /// conda's registry of environments, `~/.conda/environments.txt` (`None` without a
    /// home): conda adds a line on create and drops it on remove.
    pub fn conda_registry(&self) -> Option<PathBuf> {
        self.home
            .as_ref()
            .map(|h| h.join(".conda/environments.txt"))
    }

    /// `$PATH` joined back with `:` (what a child process receives).
    pub fn path_string(&self) -> String {
        join_path_list(&self.path)
    }
}

/// Splits a `:`-separated list of paths, dropping empty entries.
pub fn split_path_list(s: &str) -> Vec<PathBuf> {
    s.split(':')
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// Joins paths with `:`.
pub fn join_path_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_vars_parses_home_and_path() {
        let env = HostEnv::from_vars([("HOME", "/h"), ("PATH", "/a::/b"), ("X", "")]);
        assert_eq!(env.home, Some(PathBuf::from("/h")));
        assert_eq!(env.path, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(env.get("X"), None);
        assert_eq!(env.path_string(), "/a:/b");
    }

    #[test]
    fn flag_accepts_common_truthy_values() {
        let env = HostEnv::from_vars([("A", "1"), ("B", "TRUE"), ("C", "0")]);
        assert!(env.flag("A") && env.flag("B"));
        assert!(!env.flag("C") && !env.flag("D"));
    }
}
