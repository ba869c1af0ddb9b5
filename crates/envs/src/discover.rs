//! Listing environments from the file system alone (no conda process, milliseconds).
//!
//! [`list_envs`] returns the union, in this order, de-duplicated by canonical path:
//!
//! 1. each conda root (the located tool's root, then `extra_roots`);
//! 2. each child of each root's `envs_dirs` (see [`crate::condarc`]) that has a
//!    `conda-meta/history` **file** (conda's own "is an environment" test);
//! 3. the lines of `~/.conda/environments.txt` that pass the same test (the file is only
//!    read, never rewritten — conda rewrites it and drops envs on unmounted disks);
//! 4. the venvs (directories with `pyvenv.cfg`) under [`venv_home`].
//!
//! Names follow conda's `PrefixData.name` rule: `base` for a root, the directory name
//! when the parent is one of the `envs_dirs` (or the venv home), otherwise none
//! (conda prints an empty name). [`Environment::inspect`] on its own knows no
//! `envs_dirs`, so it names an env after its directory when the parent directory is
//! called `envs` (conda's activation rule), and a root `base`.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::condarc;
use crate::error::EnvError;
use crate::locate::Tools;
use crate::packages;
use crate::prefix::Prefix;
use crate::vars::HostEnv;

/// What kind of environment a prefix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnvKind {
    /// The root ("base") prefix of a conda installation.
    CondaBase,
    /// A conda environment (`conda-meta/history`).
    Conda,
    /// A Python virtual environment (`pyvenv.cfg`).
    Venv,
    /// A directory with a `bin/python` that is neither.
    Unknown,
}

/// A CEP 22 `conda-meta/frozen` marker.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Frozen {
    /// The marker's `message`, when it is a JSON document with one.
    pub message: Option<String>,
}

/// An environment as seen on disk.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Environment {
    /// Display name (see the module docs for the rule).
    pub name: Option<String>,
    /// The prefix directory.
    pub prefix: Prefix,
    /// What kind of environment it is.
    pub kind: EnvKind,
    /// `<prefix>/bin/python` when it exists (dangling symlinks excluded).
    pub python: Option<PathBuf>,
    /// Python version from `conda-meta/python-*.json` or `pyvenv.cfg`.
    pub python_version: Option<String>,
    /// True when ipykernel is installed (conda record or site-packages directory).
    pub has_ipykernel: bool,
    /// The CEP 22 frozen marker, if present.
    pub frozen: Option<Frozen>,
}

impl Environment {
    /// The conda environment a backend just made at `prefix`, as found on disk; an error
    /// when what is there is no environment after all.
    pub(crate) fn made_conda(prefix: PathBuf) -> Result<Environment, EnvError> {
        Environment::inspect(&prefix).ok_or(EnvError::NotAnEnvironment {
            prefix,
            expected: "conda",
        })
    }

    /// Reads what is known about `prefix`; `None` when it is not a directory or looks like
    /// no environment at all (no `conda-meta/history`, no `pyvenv.cfg`, no `bin/python`).
    pub fn inspect(prefix: &Path) -> Option<Environment> {
        let kind = kind_of(prefix)?;
        let name = match kind {
            EnvKind::CondaBase => Some("base".to_owned()),
            _ if parent_named_envs(prefix) => dir_name(prefix),
            _ => None,
        };
        Some(inspect_as(prefix, kind, name))
    }

    /// True when a kernel can run from it (an interpreter and ipykernel).
    pub fn can_host_kernel(&self) -> bool {
        self.python.is_some() && self.has_ipykernel
    }
}

fn kind_of(prefix: &Path) -> Option<EnvKind> {
    if !prefix.is_dir() {
        return None;
    }
    if prefix.join("conda-meta/history").is_file() {
        // The root carries conda's own entry points; an ordinary env does not.
        if prefix.join("condabin").is_dir()
            || prefix.join("envs").is_dir() && prefix.join("pkgs").is_dir()
        {
            return Some(EnvKind::CondaBase);
        }
        return Some(EnvKind::Conda);
    }
    if prefix.join("pyvenv.cfg").is_file() {
        return Some(EnvKind::Venv);
    }
    if prefix.join("bin/python").exists() {
        return Some(EnvKind::Unknown);
    }
    None
}

fn inspect_as(prefix: &Path, kind: EnvKind, name: Option<String>) -> Environment {
    let python = Some(prefix.join("bin/python")).filter(|p| p.exists());
    let conda_pkgs = packages::conda_packages(prefix);
    let python_version = conda_pkgs
        .iter()
        .find(|(n, _)| n == "python")
        .map(|(_, v)| v.clone())
        .or_else(|| pyvenv_version(prefix));
    let has_ipykernel = conda_pkgs.iter().any(|(n, _)| n == "ipykernel")
        || packages::site_packages_dirs(prefix)
            .iter()
            .any(|sp| sp.join("ipykernel").is_dir());
    Environment {
        name,
        prefix: Prefix::from_recorded(prefix),
        kind,
        python,
        python_version,
        has_ipykernel,
        frozen: read_frozen(prefix),
    }
}

fn dir_name(p: &Path) -> Option<String> {
    p.file_name().map(|n| n.to_string_lossy().into_owned())
}

fn parent_named_envs(p: &Path) -> bool {
    p.parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == "envs")
}

/// Reads a `key = value` entry of `<prefix>/pyvenv.cfg`.
pub fn pyvenv_cfg_value(prefix: &Path, key: &str) -> Option<String> {
    let text = fs::read_to_string(prefix.join("pyvenv.cfg")).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim().to_owned())
    })
}

/// `version` (CPython's venv) or `version_info` (uv, virtualenv) from `pyvenv.cfg`.
fn pyvenv_version(prefix: &Path) -> Option<String> {
    pyvenv_cfg_value(prefix, "version").or_else(|| pyvenv_cfg_value(prefix, "version_info"))
}

/// Reads the CEP 22 marker `<prefix>/conda-meta/frozen` (empty file, or JSON with a
/// `message`). An unreadable or malformed marker still counts as frozen.
pub fn read_frozen(prefix: &Path) -> Option<Frozen> {
    let marker = prefix.join("conda-meta/frozen");
    if !marker.is_file() {
        return None;
    }
    let message = fs::read_to_string(&marker)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
        .filter(|m| !m.trim().is_empty());
    Some(Frozen { message })
}

/// True when the interpreter whose standard library is `python_stdlib_dir` is marked
/// externally managed (PEP 668 `EXTERNALLY-MANAGED`).
pub fn is_externally_managed(python_stdlib_dir: &Path) -> bool {
    python_stdlib_dir.join("EXTERNALLY-MANAGED").is_file()
}

/// Where `kernels` creates venvs: `$XDG_DATA_HOME/kernels/envs`, else
/// `~/.local/share/kernels/envs`.
pub fn venv_home(env: &HostEnv) -> PathBuf {
    env.data_home().join("kernels/envs")
}

/// Lists environments (see the module docs for sources, order and naming).
pub fn list_envs(tools: &Tools, env: &HostEnv, extra_roots: &[PathBuf]) -> Vec<Environment> {
    let mut roots: Vec<PathBuf> = tools.conda.iter().map(|c| c.root.clone()).collect();
    for r in extra_roots {
        if !roots.contains(r) {
            roots.push(r.clone());
        }
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut add = |prefix: &Path, kind: EnvKind, name: Option<String>| {
        let key = fs::canonicalize(prefix).unwrap_or_else(|_| prefix.to_path_buf());
        if seen.insert(key) {
            out.push(inspect_as(prefix, kind, name));
        }
    };
    let mut all_envs_dirs: Vec<PathBuf> = Vec::new();
    for root in &roots {
        for d in condarc::envs_dirs(Some(root), env) {
            if !all_envs_dirs.contains(&d) {
                all_envs_dirs.push(d);
            }
        }
    }
    if roots.is_empty() {
        all_envs_dirs = condarc::envs_dirs(None, env);
    }

    for root in &roots {
        if root.is_dir() {
            add(root, EnvKind::CondaBase, Some("base".to_owned()));
        }
    }
    for dir in &all_envs_dirs {
        let Ok(rd) = fs::read_dir(dir) else { continue };
        let mut children: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        children.sort();
        for child in children {
            if child.join("conda-meta/history").is_file() {
                add(&child, EnvKind::Conda, dir_name(&child));
            }
        }
    }
    if let Some(registry) = env.conda_registry() {
        if let Ok(text) = fs::read_to_string(registry) {
            for line in text.lines().map(str::trim) {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let p = PathBuf::from(line);
                if !p.join("conda-meta/history").is_file() {
                    continue;
                }
                let is_root = roots.iter().any(|r| r == &p);
                let kind = if is_root {
                    EnvKind::CondaBase
                } else {
                    EnvKind::Conda
                };
                let name = if is_root {
                    Some("base".to_owned())
                } else if p
                    .parent()
                    .is_some_and(|par| all_envs_dirs.iter().any(|d| d == par))
                {
                    dir_name(&p)
                } else {
                    None
                };
                add(&p, kind, name);
            }
        }
    }
    let vh = venv_home(env);
    if let Ok(rd) = fs::read_dir(&vh) {
        let mut children: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        children.sort();
        for child in children {
            if child.join("pyvenv.cfg").is_file() {
                add(&child, EnvKind::Venv, dir_name(&child));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locate::{CondaFlavor, CondaTool};

    /// Tools with only a conda whose root is `root`.
    fn conda_at(root: &Path) -> Tools {
        Tools {
            conda: Some(CondaTool {
                exe: root.join("bin/conda"),
                flavor: CondaFlavor::Conda,
                root: root.to_path_buf(),
            }),
            ..Tools::default()
        }
    }

    fn conda_env(p: &Path, pkgs: &[&str]) {
        fs::create_dir_all(p.join("conda-meta")).unwrap();
        fs::write(p.join("conda-meta/history"), "").unwrap();
        for pkg in pkgs {
            fs::write(p.join(format!("conda-meta/{pkg}-0.json")), "{}").unwrap();
        }
    }

    #[test]
    fn lists_root_envs_dirs_environments_txt_and_venvs() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        let root = t.path().join("conda");
        conda_env(&root, &["python-3.11.7", "conda-26.7.1"]);
        fs::create_dir_all(root.join("condabin")).unwrap();
        conda_env(&root.join("envs/a"), &["python-3.12.1", "ipykernel-6.29.5"]);
        fs::create_dir_all(root.join("envs/not-an-env")).unwrap();
        conda_env(&t.path().join("elsewhere/b"), &[]);
        conda_env(&t.path().join("custom/c"), &[]);
        fs::create_dir_all(home.join(".conda")).unwrap();
        fs::write(
            home.join(".condarc"),
            format!("envs_dirs:\n  - {}\n", t.path().join("custom").display()),
        )
        .unwrap();
        let txt = format!(
            "# comment\n{}\n\n{}\n/does/not/exist\n{}\n",
            root.join("envs/a").display(),
            t.path().join("elsewhere/b").display(),
            root.display()
        );
        fs::write(home.join(".conda/environments.txt"), &txt).unwrap();
        let v = home.join(".local/share/kernels/envs/v1");
        fs::create_dir_all(v.join("bin")).unwrap();
        fs::write(
            v.join("pyvenv.cfg"),
            "home = /usr/bin\nversion_info = 3.11.7\n",
        )
        .unwrap();

        let env = HostEnv::from_vars([("HOME", home.display().to_string())]);
        let tools = conda_at(&root);
        let envs = list_envs(&tools, &env, &[]);
        let summary: Vec<(Option<&str>, EnvKind, &Path)> = envs
            .iter()
            .map(|e| (e.name.as_deref(), e.kind, e.prefix.as_path()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (Some("base"), EnvKind::CondaBase, root.as_path()),
                (
                    Some("c"),
                    EnvKind::Conda,
                    t.path().join("custom/c").as_path()
                ),
                (Some("a"), EnvKind::Conda, root.join("envs/a").as_path()),
                (None, EnvKind::Conda, t.path().join("elsewhere/b").as_path()),
                (Some("v1"), EnvKind::Venv, v.as_path()),
            ]
        );
        assert_eq!(envs[2].python_version.as_deref(), Some("3.12.1"));
        assert!(envs[2].has_ipykernel);
        assert_eq!(envs[4].python_version.as_deref(), Some("3.11.7"));
        // environments.txt is never written.
        assert_eq!(
            fs::read_to_string(home.join(".conda/environments.txt")).unwrap(),
            txt
        );
    }

    #[test]
    fn thirty_envs_are_listed_from_disk() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("conda");
        conda_env(&root, &["python-3.11.7"]);
        for i in 0..30 {
            conda_env(
                &root.join(format!("envs/e{i}")),
                &["python-3.12.1", "ipykernel-6.29.5", "pip-24.0"],
            );
        }
        let env = HostEnv::from_vars([("HOME", t.path().join("home").display().to_string())]);
        let tools = conda_at(&root);
        let started = std::time::Instant::now();
        let envs = list_envs(&tools, &env, &[]);
        let took = started.elapsed();
        assert_eq!(envs.len(), 31);
        assert!(envs.iter().skip(1).all(|e| e.has_ipykernel));
        // Reported only: the speed target (< 20 ms) is checked by benches/add.sh.
        eprintln!("listing 31 environments took {took:?}");
    }

    #[test]
    fn frozen_marker_forms() {
        let t = tempfile::tempdir().unwrap();
        conda_env(t.path(), &[]);
        assert_eq!(read_frozen(t.path()), None);
        fs::write(t.path().join("conda-meta/frozen"), "").unwrap();
        assert_eq!(read_frozen(t.path()), Some(Frozen { message: None }));
        fs::write(
            t.path().join("conda-meta/frozen"),
            r#"{"message": "image env"}"#,
        )
        .unwrap();
        assert_eq!(
            read_frozen(t.path()).unwrap().message.as_deref(),
            Some("image env")
        );
        let e = Environment::inspect(t.path()).unwrap();
        assert!(e.frozen.is_some());
    }

    #[test]
    fn inspect_names_by_parent_envs_dir() {
        let t = tempfile::tempdir().unwrap();
        conda_env(&t.path().join("envs/x"), &[]);
        conda_env(&t.path().join("other/y"), &[]);
        assert_eq!(
            Environment::inspect(&t.path().join("envs/x"))
                .unwrap()
                .name
                .as_deref(),
            Some("x")
        );
        assert_eq!(
            Environment::inspect(&t.path().join("other/y"))
                .unwrap()
                .name,
            None
        );
        assert!(Environment::inspect(&t.path().join("nothing")).is_none());
    }

    #[test]
    fn venv_home_prefers_xdg() {
        let env = HostEnv::from_vars([("HOME", "/h"), ("XDG_DATA_HOME", "/x")]);
        assert_eq!(venv_home(&env), PathBuf::from("/x/kernels/envs"));
        let env = HostEnv::from_vars([("HOME", "/h")]);
        assert_eq!(
            venv_home(&env),
            PathBuf::from("/h/.local/share/kernels/envs")
        );
    }
}
