//! The Jupyter server running for this user, seen from outside: which one it is and the
//! `sys.prefix` of its interpreter, so the search path can be the one JupyterLab's launcher
//! uses.
//!
//! A running `jupyter server` (JupyterLab, Notebook 7) writes `jpserver-<pid>.json` into the
//! Jupyter runtime dir (`$JUPYTER_RUNTIME_DIR`, else `<user data dir>/runtime`) and removes it
//! when it stops. [`find_running_server`] reads those files, newest first, and takes the first
//! whose `pid` is a live process of this user; from `/proc/<pid>/cmdline` it finds the
//! interpreter (the first argument: the shebang interpreter of the `jupyter-*` scripts, or
//! `python` of `python -m ...`, looked up on the process's own `PATH` when relative), and from
//! the interpreter its prefix the way Python computes `sys.prefix`: the directory with a
//! `pyvenv.cfg` next to or above the interpreter's directory (a venv), else the parent of the
//! real interpreter's `bin`. No Python is started. Linux only (elsewhere: none found).

use std::path::{Path, PathBuf};

/// Largest `jpserver-*.json` read (they hold a few hundred bytes).
const MAX_INFO_BYTES: u64 = 64 * 1024;
/// At most this many runtime files are looked at.
const MAX_INFO_FILES: usize = 64;

/// A Jupyter server running for this user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningServer {
    /// Its process id.
    pub pid: u32,
    /// Its URL, as its runtime file says.
    pub url: Option<String>,
    /// The runtime file (`jpserver-<pid>.json`).
    pub info_file: PathBuf,
    /// Its interpreter (as started, not symlink-resolved).
    pub python: PathBuf,
    /// The interpreter's `sys.prefix`.
    pub prefix: PathBuf,
    /// `CONDA_PREFIX` and `CONDA_DEFAULT_ENV` of the server process, when set (they decide,
    /// with the prefix, whether Jupyter prefers the environment's kernels).
    pub conda_vars: Vec<(String, String)>,
}

/// The Jupyter runtime dir: `$JUPYTER_RUNTIME_DIR` when non-empty, else `runtime` in the
/// user data dir.
pub fn runtime_dir(runtime_var: Option<&str>, user_data_dir: &Path) -> PathBuf {
    match runtime_var.filter(|v| !v.is_empty()) {
        Some(v) => PathBuf::from(v),
        None => user_data_dir.join("runtime"),
    }
}

/// The newest live server of this user whose runtime file is in `runtime_dir`, if any.
pub fn find_running_server(runtime_dir: &Path) -> Option<RunningServer> {
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(runtime_dir)
        .ok()?
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("jpserver-") && n.ends_with(".json"))
        })
        .filter_map(|e| {
            let m = std::fs::symlink_metadata(e.path()).ok()?;
            let modified = m.modified().ok()?;
            (m.is_file() && m.len() <= MAX_INFO_BYTES).then(|| (modified, e.path()))
        })
        .take(MAX_INFO_FILES)
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    files.into_iter().find_map(|(_, f)| server_of(&f))
}

/// The bytes of a regular file, at most `max` of them: opened without following a symlink
/// and without blocking (a FIFO swapped in is refused, never waited on).
fn read_regular(path: &Path, max: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOFOLLOW;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > max {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

fn server_of(info_file: &Path) -> Option<RunningServer> {
    let text = read_regular(info_file, MAX_INFO_BYTES)?;
    let info: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let pid = u32::try_from(info.get("pid")?.as_u64()?).ok()?;
    let process = live_process_of_mine(pid)?;
    let prefix = sys_prefix(&process.python)?;
    Some(RunningServer {
        pid,
        url: info.get("url").and_then(|u| u.as_str()).map(str::to_owned),
        info_file: info_file.to_path_buf(),
        python: process.python,
        prefix,
        conda_vars: process.conda_vars,
    })
}

struct Process {
    python: PathBuf,
    conda_vars: Vec<(String, String)>,
}

#[cfg(target_os = "linux")]
fn live_process_of_mine(pid: u32) -> Option<Process> {
    use std::os::unix::fs::MetadataExt;
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let me = rustix::process::geteuid().as_raw();
    if std::fs::metadata(&dir).ok()?.uid() != me {
        return None;
    }
    let cmdline = read_proc(&dir.join("cmdline"))?;
    let first = cmdline
        .split(|b| *b == 0)
        .next()
        .filter(|a| !a.is_empty())?;
    let first = PathBuf::from(String::from_utf8(first.to_vec()).ok()?);
    let environ = read_proc(&dir.join("environ")).unwrap_or_default();
    let vars: Vec<(String, String)> = environ
        .split(|b| *b == 0)
        .filter_map(|kv| {
            let text = std::str::from_utf8(kv).ok()?;
            let (k, v) = text.split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect();
    let python = if first.is_absolute() {
        first
    } else if first.components().count() > 1 {
        std::fs::read_link(dir.join("cwd")).ok()?.join(first)
    } else {
        let path = vars
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_str())?;
        path.split(':')
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join(&first))
            .find(|p| p.is_file())?
    };
    let conda_vars = vars
        .into_iter()
        .filter(|(k, _)| k == crate::vars::CONDA_PREFIX || k == crate::vars::CONDA_DEFAULT_ENV)
        .collect();
    Some(Process { python, conda_vars })
}

/// A `/proc` file (they report size 0), read up to 1 MiB.
#[cfg(target_os = "linux")]
fn read_proc(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(1 << 20)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(bytes)
}

#[cfg(not(target_os = "linux"))]
fn live_process_of_mine(_pid: u32) -> Option<Process> {
    None
}

/// Python's `sys.prefix` for `python` (see the module docs); `None` when `python` is gone.
pub fn sys_prefix(python: &Path) -> Option<PathBuf> {
    let bin = python.parent()?;
    for dir in [Some(bin), bin.parent()].into_iter().flatten() {
        if dir.join("pyvenv.cfg").is_file() {
            return Some(dir.to_path_buf());
        }
    }
    let real = std::fs::canonicalize(python).ok()?;
    real.parent()?.parent().map(Path::to_path_buf)
}

impl crate::PathsInput {
    /// The search path of the running Jupyter server: unless `$KERNELS_JUPYTER_PREFIX` is set
    /// (it always wins), the env prefix becomes the `sys.prefix` of the live server found in
    /// the runtime dir (classified with the server's own `CONDA_PREFIX`/`CONDA_DEFAULT_ENV`),
    /// and that server is returned. With no server running the input is unchanged.
    pub fn with_running_server(mut self) -> (crate::PathsInput, Option<RunningServer>) {
        let set = |k: &str| self.vars.get(k).is_some_and(|v| !v.is_empty());
        if set(crate::vars::KERNELS_JUPYTER_PREFIX) {
            return (self, None);
        }
        let data_dir = crate::JupyterPaths::new(&self)
            .user_data_dir()
            .to_path_buf();
        let dir = runtime_dir(
            self.vars
                .get(crate::vars::JUPYTER_RUNTIME_DIR)
                .map(String::as_str),
            &data_dir,
        );
        let Some(server) = find_running_server(&dir) else {
            return (self, None);
        };
        let mut vars = self.vars.clone();
        vars.remove(crate::vars::CONDA_PREFIX);
        vars.remove(crate::vars::CONDA_DEFAULT_ENV);
        vars.extend(server.conda_vars.iter().cloned());
        self.env_prefix = Some(crate::EnvPrefix::detect(server.prefix.clone(), &vars));
        (self, Some(server))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venv_and_plain_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        std::fs::create_dir_all(base.join("bin")).unwrap();
        std::fs::write(base.join("bin/python3"), "").unwrap();
        let venv = dir.path().join("v");
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        std::fs::write(venv.join("pyvenv.cfg"), "home = x\n").unwrap();
        std::os::unix::fs::symlink(base.join("bin/python3"), venv.join("bin/python")).unwrap();
        assert_eq!(sys_prefix(&venv.join("bin/python")), Some(venv.clone()));
        let real_base = std::fs::canonicalize(&base).unwrap();
        assert_eq!(sys_prefix(&base.join("bin/python3")), Some(real_base));
        assert_eq!(sys_prefix(&dir.path().join("gone/bin/python")), None);
    }

    #[test]
    fn stale_and_foreign_runtime_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        // A pid that cannot be a live process, and junk.
        std::fs::write(dir.path().join("jpserver-1.json"), r#"{"pid": 4294967295}"#).unwrap();
        std::fs::write(dir.path().join("jpserver-2.json"), "not json").unwrap();
        assert_eq!(find_running_server(dir.path()), None);
        assert_eq!(find_running_server(&dir.path().join("missing")), None);
        assert_eq!(
            runtime_dir(Some(""), Path::new("/d")),
            PathBuf::from("/d/runtime")
        );
        assert_eq!(
            runtime_dir(Some("/r"), Path::new("/d")),
            PathBuf::from("/r")
        );
    }
}
