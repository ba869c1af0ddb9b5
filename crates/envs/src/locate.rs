//! Finding conda-family tools, a base Python and uv, without running them.
//!
//! Search order for the conda-family tool (first hit wins; see [`locate`]):
//!
//! 1. `KERNELS_CONDA` (explicit path chosen by the user);
//! 2. `CONDA_EXE` (set by conda's shell integration);
//! 3. `MAMBA_EXE` (set by mamba/micromamba shell integration);
//! 4. `conda`, `mamba`, `micromamba` on `PATH`, in that order;
//! 5. the usual install roots ([`usual_roots`], or those `KERNELS_CONDA_ROOTS` lists):
//!    `<root>/bin/conda`, `<root>/bin/mamba`, `<root>/condabin/conda`.
//!
//! With a specific [`BackendChoice`] (`Only(Mamba)` and so on) only tools of that
//! flavour are accepted; with `Venv` no conda-family tool is looked for.
//!
//! The flavour is taken from the executable's **file name** (`conda…`, `mamba…`,
//! `micromamba…`). That is what the tools themselves do (libmamba names its `info` key
//! after its own file name) and it costs nothing; [`probe_flavor`] runs `--version` when a
//! caller needs certainty about a renamed binary.

use std::path::{Path, PathBuf};

use crate::backend::{BackendChoice, BackendKind};
use crate::process::{self, find_on_path, is_executable, CancelToken, NoObserver, ToolCommand};
use crate::vars::{self, HostEnv};

/// Which conda-family CLI an executable speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CondaFlavor {
    /// conda itself (also mamba 1.x, which wraps conda's CLI).
    Conda,
    /// mamba 2.x (micromamba's CLI linked against a shared libmamba).
    Mamba,
    /// micromamba.
    Micromamba,
}

impl CondaFlavor {
    /// Classifies an executable by its file name; `None` when it names no known tool.
    pub fn from_exe_name(exe: &Path) -> Option<CondaFlavor> {
        let name = exe.file_name()?.to_str()?;
        if name.starts_with("micromamba") {
            Some(CondaFlavor::Micromamba)
        } else if name.starts_with("mamba") {
            Some(CondaFlavor::Mamba)
        } else if name.starts_with("conda") {
            Some(CondaFlavor::Conda)
        } else {
            None
        }
    }

    /// The tool's usual command name.
    pub fn command_name(self) -> &'static str {
        match self {
            CondaFlavor::Conda => "conda",
            CondaFlavor::Mamba => "mamba",
            CondaFlavor::Micromamba => "micromamba",
        }
    }

    /// True for the libmamba-based CLIs (mamba 2, micromamba).
    pub fn is_libmamba(self) -> bool {
        !matches!(self, CondaFlavor::Conda)
    }
}

/// A located conda-family executable and its root prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondaTool {
    /// The executable.
    pub exe: PathBuf,
    /// Which CLI it speaks.
    pub flavor: CondaFlavor,
    /// Its root ("base") prefix.
    pub root: PathBuf,
}

/// What [`locate`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tools {
    /// A conda-family tool, if one was found (and wanted).
    pub conda: Option<CondaTool>,
    /// A base Python interpreter for venvs.
    pub python: Option<PathBuf>,
    /// uv, unless disabled with `KERNELS_NO_UV`.
    pub uv: Option<PathBuf>,
    /// Where the venv backend may keep (and first install) its own uv when the user has
    /// none: `None` when uv was found, or provisioning is turned off or not safe here.
    /// (Boxed: plans carry `Tools` by value.)
    pub uv_provision: Option<Box<UvProvision>>,
}

impl Tools {
    /// The same tools, never provisioning uv (the `provision_uv = false` setting).
    pub fn without_provision(mut self) -> Tools {
        self.uv_provision = None;
        self
    }
}

/// kernels' own uv, installed once from the user's package index by the base interpreter's
/// pip (`pip install --target DIR uv`) and then used by the venv backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UvProvision {
    /// The `pip --target` directory: `<tool dir>/uv` (see [`tool_dir`]).
    pub dir: PathBuf,
}

impl UvProvision {
    /// The uv executable inside [`UvProvision::dir`].
    pub fn uv(&self) -> PathBuf {
        self.dir.join("bin/uv")
    }

    /// True when uv was provisioned already, by this user (never run a binary someone else
    /// could have put there).
    pub fn is_ready(&self) -> bool {
        let uv = self.uv();
        is_executable(&uv) && owned_by_me(&uv) && owned_by_me(&self.dir)
    }
}

/// kernels' tool directory: `$XDG_DATA_HOME/kernels/tools`, else
/// `~/.local/share/kernels/tools` (next to the default venv home).
pub fn tool_dir(env: &HostEnv) -> Option<PathBuf> {
    let data = match env.get(vars::XDG_DATA_HOME) {
        Some(x) if Path::new(x).is_absolute() => PathBuf::from(x),
        _ => env.home.as_ref()?.join(".local/share"),
    };
    Some(data.join("kernels/tools"))
}

/// True when `path` exists and belongs to the effective user.
fn owned_by_me(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.uid() == rustix::process::geteuid().as_raw())
}

/// The nearest existing ancestor of `path` (itself included).
fn nearest_existing(path: &Path) -> Option<&Path> {
    path.ancestors()
        .find(|p| std::fs::symlink_metadata(p).is_ok())
}

/// Whether the venv backend may provision uv: not turned off (`KERNELS_NO_UV`,
/// `KERNELS_NO_PROVISION_UV`), and the home and the tool directory (or its nearest existing
/// ancestor) belong to the effective user, so root running for someone else (or `sudo`
/// keeping `HOME`) never writes into, or runs a binary from, another user's home.
fn uv_provision(env: &HostEnv) -> Option<Box<UvProvision>> {
    if env.flag(vars::KERNELS_NO_UV) || env.flag(vars::KERNELS_NO_PROVISION_UV) {
        return None;
    }
    let home = env.home.as_deref()?;
    let dir = tool_dir(env)?;
    let ours = owned_by_me(home) && nearest_existing(&dir).is_some_and(owned_by_me);
    ours.then(|| {
        Box::new(UvProvision {
            dir: dir.join("uv"),
        })
    })
}

/// Locates the tools without running anything (only file-system checks).
///
/// Python: `KERNELS_PYTHON`, else `python3`, else `python` on `PATH`.
/// uv: `KERNELS_UV`, else `uv` on `PATH`; never when `KERNELS_NO_UV` is set. Without one,
/// [`Tools::uv_provision`] says where kernels' own uv is (or would be provisioned).
pub fn locate(env: &HostEnv, want: BackendChoice) -> Tools {
    let conda = if want == BackendChoice::Only(BackendKind::Venv) {
        None
    } else {
        conda_candidates(env)
            .into_iter()
            .filter(|exe| is_executable(exe))
            .find_map(|exe| {
                let flavor = CondaFlavor::from_exe_name(&exe)?;
                want.accepts_flavor(flavor).then(|| CondaTool {
                    root: root_for(&exe, flavor, env),
                    exe,
                    flavor,
                })
            })
    };
    let python = match env.get(vars::KERNELS_PYTHON) {
        Some(p) => Some(PathBuf::from(p)),
        None => find_on_path("python3", &env.path).or_else(|| find_on_path("python", &env.path)),
    };
    let uv = if env.flag(vars::KERNELS_NO_UV) {
        None
    } else {
        match env.get(vars::KERNELS_UV) {
            Some(p) => Some(PathBuf::from(p)),
            None => find_on_path("uv", &env.path),
        }
    };
    let uv_provision = if uv.is_some() {
        None
    } else {
        uv_provision(env)
    };
    Tools {
        conda,
        python,
        uv,
        uv_provision,
    }
}

/// Which rule of [`locate`] found a tool, so that the choice can be shown.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "rule", content = "value", rename_all = "snake_case")]
pub enum FoundBy {
    /// An environment variable named it (`KERNELS_CONDA`, `CONDA_EXE`, `MAMBA_EXE`,
    /// `KERNELS_PYTHON`, `KERNELS_UV`).
    Variable(&'static str),
    /// It is on `PATH`.
    Path,
    /// It is in a usual install root (`/anaconda`, `/opt/conda`, `~/miniconda3`, …; or a
    /// root of `KERNELS_CONDA_ROOTS`), which is not on `PATH`.
    KnownRoot(PathBuf),
    /// kernels' own uv (installed once into kernels' tool directory).
    Provisioned,
}

impl std::fmt::Display for FoundBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FoundBy::Variable(v) => write!(f, "named by {v}"),
            FoundBy::Path => f.write_str("found on PATH"),
            FoundBy::KnownRoot(r) => write!(f, "found in the conda root {}", r.display()),
            FoundBy::Provisioned => f.write_str("kernels' own copy"),
        }
    }
}

/// Which rule of [`locate`] found the conda-family executable `exe` (the first that names
/// it, in [`locate`]'s order); `None` when no rule would (a tool chosen by other means).
pub fn conda_found_by(env: &HostEnv, exe: &Path) -> Option<FoundBy> {
    for var in [vars::KERNELS_CONDA, vars::CONDA_EXE, vars::MAMBA_EXE] {
        if env.get(var).is_some_and(|p| Path::new(p) == exe) {
            return Some(FoundBy::Variable(var));
        }
    }
    let name = exe.file_name()?.to_str()?;
    if find_on_path(name, &env.path).as_deref() == Some(exe) {
        return Some(FoundBy::Path);
    }
    usual_roots(env)
        .into_iter()
        .find(|root| exe.starts_with(root))
        .map(FoundBy::KnownRoot)
}

/// Which rule found the base interpreter `python` (`KERNELS_PYTHON`, else `PATH`).
pub fn python_found_by(env: &HostEnv, python: &Path) -> FoundBy {
    if env
        .get(vars::KERNELS_PYTHON)
        .is_some_and(|p| Path::new(p) == python)
    {
        FoundBy::Variable(vars::KERNELS_PYTHON)
    } else {
        FoundBy::Path
    }
}

/// Candidate conda-family executables, in search order (not yet checked).
fn conda_candidates(env: &HostEnv) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for var in [vars::KERNELS_CONDA, vars::CONDA_EXE, vars::MAMBA_EXE] {
        if let Some(p) = env.get(var) {
            out.push(PathBuf::from(p));
        }
    }
    for name in ["conda", "mamba", "micromamba"] {
        out.extend(find_on_path(name, &env.path));
    }
    for root in usual_roots(env) {
        out.push(root.join("bin/conda"));
        out.push(root.join("bin/mamba"));
        out.push(root.join("condabin/conda"));
    }
    out
}

/// The usual conda install roots, in search order: `/anaconda`, `/opt/conda`,
/// `/opt/anaconda3`, `/opt/miniconda3`, `~/miniconda3`, `~/miniforge3`, `~/anaconda3`,
/// `~/mambaforge`, `~/micromamba`; or, when `KERNELS_CONDA_ROOTS` is set, exactly the roots it
/// lists (none when it is empty). Not checked for existence.
pub fn usual_roots(env: &HostEnv) -> Vec<PathBuf> {
    if let Some(list) = env.vars.get(vars::KERNELS_CONDA_ROOTS) {
        return list
            .split(':')
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect();
    }
    let mut roots: Vec<PathBuf> = [
        "/anaconda",
        "/opt/conda",
        "/opt/anaconda3",
        "/opt/miniconda3",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    if let Some(home) = &env.home {
        for d in [
            "miniconda3",
            "miniforge3",
            "anaconda3",
            "mambaforge",
            "micromamba",
        ] {
            roots.push(home.join(d));
        }
    }
    roots
}

/// The usual roots that exist and look like conda roots (have `conda-meta/`).
pub fn existing_roots(env: &HostEnv) -> Vec<PathBuf> {
    usual_roots(env)
        .into_iter()
        .filter(|r| r.join("conda-meta").is_dir())
        .collect()
}

/// The root prefix of a tool.
///
/// conda: `dirname(dirname(exe))` (works for `bin/conda` and `condabin/conda`); when that
/// has no `conda-meta/`, the same computed on the symlink-resolved path.
/// mamba: `MAMBA_ROOT_PREFIX` if set, else as conda.
/// micromamba: `MAMBA_ROOT_PREFIX`, else `~/micromamba` if it qualifies, else
/// `$XDG_DATA_HOME/mamba` or `~/.local/share/mamba` (micromamba 2.x defaults).
pub fn root_for(exe: &Path, flavor: CondaFlavor, env: &HostEnv) -> PathBuf {
    let mamba_root = env.get(vars::MAMBA_ROOT_PREFIX).map(PathBuf::from);
    match flavor {
        CondaFlavor::Micromamba => mamba_root.unwrap_or_else(|| micromamba_default_root(env)),
        CondaFlavor::Mamba => mamba_root.unwrap_or_else(|| grandparent_root(exe)),
        CondaFlavor::Conda => grandparent_root(exe),
    }
}

fn grandparent_root(exe: &Path) -> PathBuf {
    let direct = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    if direct.join("conda-meta").is_dir() {
        return direct;
    }
    match std::fs::canonicalize(exe) {
        Ok(real) => match real.parent().and_then(Path::parent) {
            Some(r) if r.join("conda-meta").is_dir() => r.to_path_buf(),
            _ => direct,
        },
        Err(_) => direct,
    }
}

fn qualifies_as_root(dir: &Path) -> bool {
    ["pkgs", "conda-meta", "envs"]
        .iter()
        .any(|d| dir.join(d).is_dir())
}

fn micromamba_default_root(env: &HostEnv) -> PathBuf {
    if let Some(home) = &env.home {
        let legacy = home.join("micromamba");
        if qualifies_as_root(&legacy) {
            return legacy;
        }
    }
    env.data_home().join("mamba")
}

/// Parses the output of `<exe> --version` (see the reference table): `conda X` is conda;
/// `mamba X` followed by a `conda Y` line is mamba 1 (a conda wrapper, so
/// [`CondaFlavor::Conda`]'s CLI); a bare version is libmamba, named by `fallback`.
pub fn flavor_from_version_output(stdout: &str, fallback: CondaFlavor) -> CondaFlavor {
    let mut lines = stdout.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default();
    match first.split_whitespace().next() {
        Some("conda") => CondaFlavor::Conda,
        Some("mamba") => CondaFlavor::Conda,
        Some(tok) if tok.starts_with(|c: char| c.is_ascii_digit()) => {
            if fallback == CondaFlavor::Conda {
                CondaFlavor::Mamba
            } else {
                fallback
            }
        }
        _ => fallback,
    }
}

/// Runs `<exe> --version` to confirm the flavour of a possibly renamed binary.
pub fn probe_flavor(tool: &CondaTool, env: &HostEnv) -> Result<CondaFlavor, process::ProcessError> {
    let cmd = ToolCommand::new(&tool.exe, env)
        .arg("--version")
        .timeout(std::time::Duration::from_secs(30));
    let out = process::run_checked(&cmd, &CancelToken::new(), &NoObserver)?;
    Ok(flavor_from_version_output(&out.stdout, tool.flavor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn exe(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "#!/bin/sh\n").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn flavor_from_file_name() {
        assert_eq!(
            CondaFlavor::from_exe_name(Path::new("/a/bin/conda")),
            Some(CondaFlavor::Conda)
        );
        assert_eq!(
            CondaFlavor::from_exe_name(Path::new("/a/mamba")),
            Some(CondaFlavor::Mamba)
        );
        assert_eq!(
            CondaFlavor::from_exe_name(Path::new("/a/micromamba-2.1")),
            Some(CondaFlavor::Micromamba)
        );
        assert_eq!(CondaFlavor::from_exe_name(Path::new("/a/python")), None);
    }

    #[test]
    fn version_output_classification() {
        use CondaFlavor::{Conda, Mamba, Micromamba};
        // (output, fallback, flavor)
        for (output, fallback, want) in [
            ("conda 26.7.1\n", Mamba, Conda),
            ("mamba 1.5.12\nconda 24.1.0\n", Mamba, Conda),
            ("2.8.1\n", Micromamba, Micromamba),
            ("2.8.1\n", Mamba, Mamba),
        ] {
            assert_eq!(
                flavor_from_version_output(output, fallback),
                want,
                "{output:?}"
            );
        }
    }

    #[test]
    fn search_order_env_vars_then_path_then_roots() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        let root = home.join("miniforge3");
        exe(&root.join("bin/conda"));
        fs::create_dir_all(root.join("conda-meta")).unwrap();
        let pathdir = t.path().join("pathbin");
        exe(&pathdir.join("micromamba"));
        exe(&pathdir.join("python3"));
        exe(&pathdir.join("uv"));
        let mroot = t.path().join("mroot");

        // The roots are given, so that a machine's own /anaconda or /opt/conda is not found.
        let base = |extra: &[(&str, String)]| {
            let mut v = vec![
                ("HOME".to_owned(), home.display().to_string()),
                ("PATH".to_owned(), pathdir.display().to_string()),
                (
                    "KERNELS_CONDA_ROOTS".to_owned(),
                    format!(
                        "{}:{}",
                        t.path().join("no-such-root").display(),
                        root.display()
                    ),
                ),
            ];
            v.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
            HostEnv::from_vars(v)
        };

        // PATH micromamba beats the home root; its root comes from MAMBA_ROOT_PREFIX.
        let env = base(&[("MAMBA_ROOT_PREFIX", mroot.display().to_string())]);
        let tools = locate(&env, BackendChoice::Auto);
        let c = tools.conda.unwrap();
        assert_eq!(c.flavor, CondaFlavor::Micromamba);
        assert_eq!(c.root, mroot);
        assert_eq!(tools.python, Some(pathdir.join("python3")));
        assert_eq!(tools.uv, Some(pathdir.join("uv")));

        // CONDA_EXE beats PATH; root = dirname(dirname(exe)).
        let env = base(&[("CONDA_EXE", root.join("bin/conda").display().to_string())]);
        let c = locate(&env, BackendChoice::Auto).conda.unwrap();
        assert_eq!(
            (c.flavor, c.root.clone()),
            (CondaFlavor::Conda, root.clone())
        );

        // Asking for conda skips the PATH micromamba and finds the home root.
        let c = locate(&base(&[]), BackendChoice::Only(BackendKind::Conda))
            .conda
            .unwrap();
        assert_eq!(c.exe, root.join("bin/conda"));

        // KERNELS_CONDA wins over everything; KERNELS_NO_UV hides uv; venv wants no conda.
        let explicit = t.path().join("x/bin/mamba");
        exe(&explicit);
        let env = base(&[
            ("KERNELS_CONDA", explicit.display().to_string()),
            ("CONDA_EXE", root.join("bin/conda").display().to_string()),
            ("KERNELS_NO_UV", "1".to_owned()),
        ]);
        let tools = locate(&env, BackendChoice::Auto);
        assert_eq!(tools.conda.unwrap().flavor, CondaFlavor::Mamba);
        assert_eq!(tools.uv, None);
        assert_eq!(
            locate(&env, BackendChoice::Only(BackendKind::Venv)).conda,
            None
        );

        // KERNELS_CONDA_ROOTS set but empty: no usual root at all; unset: /anaconda first.
        assert!(usual_roots(&HostEnv::from_vars([("KERNELS_CONDA_ROOTS", "")])).is_empty());
        assert_eq!(
            usual_roots(&HostEnv::from_vars([("HOME", "/h")]))[0],
            Path::new("/anaconda")
        );
    }

    #[test]
    fn uv_is_provisioned_only_without_a_users_uv_and_when_not_turned_off() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        fs::create_dir_all(&home).unwrap();
        let pathdir = t.path().join("bin");
        let env = |extra: &[(&str, &str)]| {
            let mut v = vec![
                ("HOME".to_owned(), home.display().to_string()),
                ("PATH".to_owned(), pathdir.display().to_string()),
            ];
            v.extend(extra.iter().map(|(k, x)| (k.to_string(), x.to_string())));
            HostEnv::from_vars(v)
        };
        let p = locate(&env(&[]), BackendChoice::Only(BackendKind::Venv))
            .uv_provision
            .unwrap();
        assert_eq!(p.dir, home.join(".local/share/kernels/tools/uv"));
        assert_eq!(p.uv(), p.dir.join("bin/uv"));
        assert!(!p.is_ready());
        exe(&p.uv());
        assert!(p.is_ready());
        let xdg = t.path().join("data");
        let p = locate(
            &env(&[("XDG_DATA_HOME", xdg.to_str().unwrap())]),
            BackendChoice::Only(BackendKind::Venv),
        )
        .uv_provision
        .unwrap();
        assert_eq!(p.dir, xdg.join("kernels/tools/uv"));
        for off in ["KERNELS_NO_PROVISION_UV", "KERNELS_NO_UV"] {
            assert_eq!(
                locate(&env(&[(off, "1")]), BackendChoice::Only(BackendKind::Venv)).uv_provision,
                None
            );
        }
        exe(&pathdir.join("uv"));
        let tools = locate(&env(&[]), BackendChoice::Only(BackendKind::Venv));
        assert_eq!(tools.uv, Some(pathdir.join("uv")));
        assert_eq!(tools.uv_provision, None);
    }

    #[test]
    fn micromamba_default_root_follows_reference() {
        let t = tempfile::tempdir().unwrap();
        let env = HostEnv::from_vars([("HOME", t.path().display().to_string())]);
        let mm = Path::new("/x/micromamba");
        assert_eq!(
            root_for(mm, CondaFlavor::Micromamba, &env),
            t.path().join(".local/share/mamba")
        );
        fs::create_dir_all(t.path().join("micromamba/pkgs")).unwrap();
        assert_eq!(
            root_for(mm, CondaFlavor::Micromamba, &env),
            t.path().join("micromamba")
        );
    }
}
