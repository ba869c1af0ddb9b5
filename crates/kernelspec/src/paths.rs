//! The kernelspec search path, built from an explicit [`PathsInput`] snapshot.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::platform::{self, Homes, Platform};
use crate::probe;
use crate::vars;

/// The `sys.prefix` of "the Jupyter whose kernels we care about".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvPrefix {
    /// The prefix; its `share/jupyter/kernels` is the env kernel dir.
    pub path: PathBuf,
    /// A venv or a non-base conda env owned by the current user: Jupyter then searches the env
    /// dir before the user dirs (unless `JUPYTER_PREFER_ENV_PATH` says otherwise).
    pub is_env: bool,
    /// The prefix is a venv (has `pyvenv.cfg`); Python's user site, and with it the user-base
    /// data dir, is disabled in a venv.
    pub is_venv: bool,
}

impl EnvPrefix {
    /// Classify `path` the way jupyter_core's `prefer_environment_over_user` would for a Python
    /// whose `sys.prefix` is `path`:
    ///
    /// * venv: `path/pyvenv.cfg` exists;
    /// * conda env: `CONDA_PREFIX` is set, `path` starts with it (as a string) and
    ///   `CONDA_DEFAULT_ENV` (default `base`) is not `base`;
    /// * owned: the first existing ancestor of the resolved path belongs to the effective user,
    ///   or else is writable.
    ///
    /// `is_env` = (venv or conda env) and owned. Reads the filesystem.
    pub fn detect(path: PathBuf, vars: &BTreeMap<String, String>) -> EnvPrefix {
        let is_venv = path.join("pyvenv.cfg").is_file();
        let conda = vars.get(vars::CONDA_PREFIX).is_some_and(|cp| {
            path.to_string_lossy().starts_with(cp.as_str())
                && vars
                    .get(vars::CONDA_DEFAULT_ENV)
                    .map_or("base", String::as_str)
                    != "base"
        });
        let is_env = (is_venv || conda) && probe::owned_by_me(&path);
        EnvPrefix {
            path,
            is_env,
            is_venv,
        }
    }
}

/// Where a search directory comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// An entry of `$JUPYTER_PATH`.
    JupyterPath,
    /// The user data dir (`--user`).
    User,
    /// `<python user base>/share/jupyter`.
    UserSite,
    /// `<env prefix>/share/jupyter` (`--sys-prefix`).
    Env,
    /// A system-wide dir (`/usr/local/share/jupyter`, ...).
    System,
    /// `<IPython dir>/kernels` (legacy).
    IPython,
}

impl Scope {
    /// A short lowercase label (`jupyter-path`, `user`, `user-site`, `env`, `system`, `ipython`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::JupyterPath => "jupyter-path",
            Scope::User => "user",
            Scope::UserSite => "user-site",
            Scope::Env => "env",
            Scope::System => "system",
            Scope::IPython => "ipython",
        }
    }
}

/// A directory searched for kernel specs (`.../kernels`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelDir {
    /// The directory.
    pub path: PathBuf,
    /// Where it comes from.
    pub scope: Scope,
}

/// A Jupyter data directory (`jupyter --paths`, "data" list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    /// The directory.
    pub path: PathBuf,
    /// Where it comes from.
    pub scope: Scope,
}

/// Everything the search path depends on, as a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathsInput {
    /// Whose rules apply.
    pub platform: Platform,
    /// The home directory as `~` expands (not symlink-resolved); `None` makes `~` stay literal.
    pub home: Option<PathBuf>,
    /// The relevant environment variables (see [`crate::vars::SNAPSHOT_VARS`]).
    pub vars: BTreeMap<String, String>,
    /// The prefix of the Jupyter whose kernels we manage; `None` means no env dir (like a
    /// system Python, whose prefix is a system dir anyway).
    pub env_prefix: Option<EnvPrefix>,
}

impl PathsInput {
    /// An input with no variables and no env prefix.
    pub fn new(platform: Platform, home: Option<PathBuf>) -> PathsInput {
        PathsInput {
            platform,
            home,
            vars: BTreeMap::new(),
            env_prefix: None,
        }
    }

    /// Set one variable (builder style, for tests and callers).
    pub fn var(mut self, key: &str, value: &str) -> PathsInput {
        self.vars.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Snapshot this process's environment. The only place this crate reads `std::env`.
    ///
    /// * home: `$HOME` (`%USERPROFILE%` on Windows) when non-empty;
    /// * vars: each of [`crate::vars::SNAPSHOT_VARS`] that is set (and valid UTF-8);
    /// * env prefix, first that applies: `$KERNELS_JUPYTER_PREFIX` ("the `sys.prefix` of the
    ///   Jupyter server whose kernels we manage"), else `$VIRTUAL_ENV`, else `$CONDA_PREFIX`
    ///   (a `base` env is kept as an env dir but not preferred, as in Jupyter), else none. Each
    ///   is classified by [`EnvPrefix::detect`].
    pub fn from_process_env() -> PathsInput {
        let platform = Platform::current();
        let read = |k: &str| std::env::var(k).ok();
        let home_var = if platform == Platform::Windows {
            vars::USERPROFILE
        } else {
            vars::HOME
        };
        let home = read(home_var).filter(|h| !h.is_empty()).map(PathBuf::from);
        let vars: BTreeMap<String, String> = vars::SNAPSHOT_VARS
            .iter()
            .filter_map(|k| read(k).map(|v| ((*k).to_owned(), v)))
            .collect();
        let pick = |k: &str| vars.get(k).filter(|v| !v.is_empty()).cloned();
        let env_prefix = pick(vars::KERNELS_JUPYTER_PREFIX)
            .or_else(|| pick(vars::VIRTUAL_ENV))
            .or_else(|| pick(vars::CONDA_PREFIX))
            .map(|p| EnvPrefix::detect(PathBuf::from(p), &vars));
        PathsInput {
            platform,
            home,
            vars,
            env_prefix,
        }
    }
}

/// The kernelspec search path, in precedence order (first match wins).
///
/// Built by [`JupyterPaths::new`] from a [`PathsInput`], mirroring jupyter_core 5.9's
/// `jupyter_path("kernels")` plus jupyter_client's IPython dir:
///
/// 1. Each `$JUPYTER_PATH` entry (split on `:`, `;` on Windows), trailing separators stripped,
///    `/kernels` appended. Empty entries are kept and give the relative dir `kernels`, exactly
///    as Jupyter does. Not de-duplicated.
/// 2. The user data dir + `/kernels`: `$JUPYTER_DATA_DIR` if non-empty; else Linux
///    `$XDG_DATA_HOME/jupyter` or `~/.local/share/jupyter`, macOS `~/Library/Jupyter`,
///    Windows `%APPDATA%\jupyter` or `~\.jupyter\data` (with `JUPYTER_PLATFORM_DIRS` truthy:
///    the platformdirs locations). `~` is symlink-resolved like Python's `Path.resolve()`.
/// 3. `<python user base>/share/jupyter/kernels`, unless the env prefix is a venv or
///    `$PYTHONNOUSERSITE` is non-empty, or it equals 2 (as a string). User base:
///    `$PYTHONUSERBASE`, else `~/.local` (`%APPDATA%\Python` on Windows).
/// 4. `<env prefix>/share/jupyter/kernels`, left out if it is one of the system dirs (on Windows
///    the env dir *is* the default system dir and is kept here).
/// 5. The system dirs not already listed: `/usr/local/share/jupyter/kernels`,
///    `/usr/share/jupyter/kernels` (Linux, macOS); on Windows `%PROGRAMDATA%\jupyter\kernels`
///    only with `JUPYTER_USE_PROGRAMDATA` truthy.
/// 6. `<IPython dir>/kernels`: `$IPYTHONDIR` (`~` expanded, normalised), else `~/.ipython`, or
///    `$XDG_CONFIG_HOME/ipython` (default `~/.config/ipython`) when that is a writable dir and
///    `~/.ipython` does not exist (Linux and macOS, checked only when the platform is the host).
///
/// Steps 4 comes before steps 2–3 when `$JUPYTER_PREFER_ENV_PATH` is set and truthy (an
/// empty value is truthy; `no`, `n`, `false`, `off`, `0`, `0.0` are not), or, when it is unset,
/// when the env prefix [`is_env`](EnvPrefix::is_env) (an owned venv or non-base conda env).
///
/// Not mirrored: Jupyter's synthetic `python3` kernel (generated from the listing process's own
/// ipykernel), IPython falling back to a temp dir when its dir is not writable, and a macOS
/// Homebrew prefix in platformdirs mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JupyterPaths {
    platform: Platform,
    data_dirs: Vec<DataDir>,
    kernel_dirs: Vec<KernelDir>,
    user_data_dir: PathBuf,
    system_data_dirs: Vec<PathBuf>,
    prefers_env: bool,
}

fn lossy(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

impl JupyterPaths {
    /// Compute the search path. Touches the filesystem only for the rules that Jupyter
    /// evaluates on disk (symlink resolution of home and `%APPDATA%`, the XDG IPython dir), and
    /// only when `input.platform` is the host platform.
    pub fn new(input: &PathsInput) -> JupyterPaths {
        let p = input.platform;
        let on_host = p == Platform::current();
        let vars = &input.vars;
        let home_raw = input
            .home
            .as_deref()
            .map(lossy)
            .unwrap_or_else(|| "~".to_owned());
        let home_resolved = match (&input.home, on_host) {
            (Some(h), true) => lossy(&probe::resolve_lenient(h)),
            _ => home_raw.clone(),
        };
        let homes = Homes {
            raw: &home_raw,
            resolved: &home_resolved,
        };

        let (mut user_dir, needs_resolve) = platform::user_data_dir(p, vars, &homes);
        if needs_resolve && on_host {
            user_dir = lossy(&probe::resolve_lenient(Path::new(&user_dir)));
        }
        let env_dir = input
            .env_prefix
            .as_ref()
            .map(|e| platform::env_data_dir(p, &lossy(&e.path)));
        let system = platform::system_data_dirs(p, vars, env_dir.as_deref());

        let mut dirs: Vec<(String, Scope)> = Vec::new();
        if let Some(jp) = vars.get(vars::JUPYTER_PATH).filter(|v| !v.is_empty()) {
            for entry in jp.split(p.list_separator()) {
                dirs.push((
                    platform::rstrip_sep(p, entry).to_owned(),
                    Scope::JupyterPath,
                ));
            }
        }
        let mut user = vec![(user_dir.clone(), Scope::User)];
        let in_venv = input.env_prefix.as_ref().is_some_and(|e| e.is_venv);
        if let Some(base) = platform::user_base(p, vars, &home_raw, in_venv) {
            let site = platform::user_site_data_dir(p, &base);
            if site != user_dir {
                user.push((site, Scope::UserSite));
            }
        }
        let env_list: Vec<String> = env_dir.into_iter().collect();
        let env: Vec<(String, Scope)> = if env_list == system {
            env_list.into_iter().map(|d| (d, Scope::Env)).collect()
        } else {
            env_list
                .into_iter()
                .filter(|d| !system.contains(d))
                .map(|d| (d, Scope::Env))
                .collect()
        };
        let prefers_env =
            platform::envset(vars.get(vars::JUPYTER_PREFER_ENV_PATH).map(String::as_str))
                .unwrap_or_else(|| input.env_prefix.as_ref().is_some_and(|e| e.is_env));
        if prefers_env {
            dirs.extend(env);
            dirs.extend(user);
        } else {
            dirs.extend(user);
            dirs.extend(env);
        }
        for s in &system {
            if !dirs.iter().any(|(d, _)| d == s) {
                dirs.push((s.clone(), Scope::System));
            }
        }

        let mut kernel_dirs: Vec<KernelDir> = dirs
            .iter()
            .map(|(d, scope)| KernelDir {
                path: PathBuf::from(platform::pjoin(p, d, "kernels")),
                scope: *scope,
            })
            .collect();
        let ipython = ipython_dir(input, &home_raw, &home_resolved, on_host);
        kernel_dirs.push(KernelDir {
            path: PathBuf::from(platform::pjoin(p, &ipython, "kernels")),
            scope: Scope::IPython,
        });

        JupyterPaths {
            platform: p,
            data_dirs: dirs
                .into_iter()
                .map(|(d, scope)| DataDir {
                    path: PathBuf::from(d),
                    scope,
                })
                .collect(),
            kernel_dirs,
            user_data_dir: PathBuf::from(user_dir),
            system_data_dirs: system.into_iter().map(PathBuf::from).collect(),
            prefers_env,
        }
    }

    /// The data dirs in precedence order, like the "data" list of `jupyter --paths`.
    pub fn data_dirs(&self) -> &[DataDir] {
        &self.data_dirs
    }

    /// The kernel dirs in precedence order (first wins); see the type docs.
    pub fn kernel_dirs(&self) -> &[KernelDir] {
        &self.kernel_dirs
    }

    /// Whether env dirs are searched before user dirs.
    pub fn prefers_env(&self) -> bool {
        self.prefers_env
    }

    /// The user data dir (`jupyter --data-dir`).
    pub fn user_data_dir(&self) -> &Path {
        &self.user_data_dir
    }

    /// `<user data dir>/kernels`, where `--user` installs go.
    pub fn user_kernel_dir(&self) -> PathBuf {
        PathBuf::from(platform::pjoin(
            self.platform,
            &lossy(&self.user_data_dir),
            "kernels",
        ))
    }

    /// `SYSTEM_JUPYTER_PATH[0]/kernels`, where Jupyter installs when no scope flag is given
    /// (`/usr/local/share/jupyter/kernels` on Linux and macOS, even inside a venv).
    ///
    /// On Windows the default system dir is the Jupyter's own `sys.prefix`; when that prefix is
    /// unknown (no env prefix) and `JUPYTER_USE_PROGRAMDATA` is off, this returns
    /// `%PROGRAMDATA%\jupyter\kernels` (which is then not on the search path; callers should
    /// check [`contains_kernel_dir`](Self::contains_kernel_dir)).
    pub fn system_kernel_dir(&self) -> PathBuf {
        let p = self.platform;
        let base = match self.system_data_dirs.first() {
            Some(d) => lossy(d),
            None => platform::pjoin(p, "C:\\ProgramData", "jupyter"),
        };
        PathBuf::from(platform::pjoin(p, &base, "kernels"))
    }

    /// `<prefix>/share/jupyter/kernels`, where `--prefix`/`--sys-prefix` installs go.
    pub fn prefix_kernel_dir(prefix: &Path) -> PathBuf {
        prefix.join("share").join("jupyter").join("kernels")
    }

    /// Whether `dir` is one of the kernel dirs (as Jupyter checks before installing).
    pub fn contains_kernel_dir(&self, dir: &Path) -> bool {
        self.kernel_dirs.iter().any(|k| k.path == dir)
    }

    /// The index of the first data dir that contains `resource_dir`, comparing whole path
    /// components (Jupyter compares strings, so `/tmp/a` "contains" `/tmp/ab/x`; we do not).
    /// `jupyter kernelspec list` sorts rows by this index, with `None` (e.g. the IPython dir)
    /// first, then by path.
    pub fn list_order_index(&self, resource_dir: &Path) -> Option<usize> {
        let target: Vec<Component<'_>> = resource_dir.components().collect();
        self.data_dirs.iter().position(|d| {
            let c: Vec<Component<'_>> = d.path.components().collect();
            target.len() >= c.len() && target[..c.len()] == c[..]
        })
    }
}

/// IPython's `get_ipython_dir()`.
fn ipython_dir(input: &PathsInput, home_raw: &str, home_resolved: &str, on_host: bool) -> String {
    let p = input.platform;
    if let Some(v) = input.vars.get(vars::IPYTHONDIR) {
        return platform::normpath(p, &platform::expanduser(p, v, Some(home_raw)));
    }
    let default = platform::pjoin(p, home_resolved, ".ipython");
    let mut dir = default.clone();
    if on_host && p != Platform::Windows {
        let xdg = input
            .vars
            .get(vars::XDG_CONFIG_HOME)
            .filter(|v| !v.is_empty())
            .cloned()
            .unwrap_or_else(|| platform::pjoin(p, home_resolved, ".config"));
        if probe::is_writable_dir(Path::new(&xdg)) {
            let xdg_ip = platform::pjoin(p, &xdg, "ipython");
            let xdg_ip_path = Path::new(&xdg_ip);
            if probe::is_writable_dir(xdg_ip_path)
                && !Path::new(&default).exists()
                && !xdg_ip_path.is_symlink()
            {
                dir = xdg_ip;
            }
        }
    }
    platform::normpath(p, &dir)
}
