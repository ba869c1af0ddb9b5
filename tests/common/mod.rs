//! The per-test sandbox: a temp dir with its own HOME and Jupyter/XDG dirs, and a scrubbed
//! environment, so no test reads or writes the real home or the machine's kernels.
//!
//! A test that cannot run here says so with [`skip`] (or `require!`/`require_python!`), which
//! counts it: see `tests/common/skip.rs`. Never return early with only a message.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[allow(unused_imports)]
pub use crate::skip::{opt_in, skip};

/// Variables never inherited by the binary under test: they would change what it sees.
const SCRUBBED_PREFIXES: &[&str] = &[
    "JUPYTER",
    "XDG_",
    "CONDA",
    "_CE_",
    "MAMBA",
    "VIRTUAL_ENV",
    "PYTHON",
    "IPYTHONDIR",
    "KERNELS_",
    "NO_COLOR",
];

/// The outcome of one run.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Parses stdout as JSON, failing the test with both streams if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n--- stdout\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts exit 0, showing both streams otherwise.
    pub fn ok(&self) -> &Run {
        assert_eq!(
            self.code, 0,
            "expected success\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A sandboxed HOME and environment for running `kernels` and Jupyter.
pub struct Sandbox {
    dir: tempfile::TempDir,
    vars: BTreeMap<String, String>,
}

impl Sandbox {
    /// A fresh sandbox: HOME is `<tmp>/home`, nothing Jupyter- or conda-related is inherited.
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("kernels-test-")
            .tempdir()
            .expect("temp dir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        let mut vars: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| !SCRUBBED_PREFIXES.iter().any(|p| k.starts_with(p)))
            .collect();
        vars.insert("HOME".into(), home.display().to_string());
        // Hermetic: nothing of the machine's conda or Jupyter is found by accident. No usual
        // conda root (/anaconda, /opt/conda, ...: a test names its conda with KERNELS_CONDA),
        // no PATH directory holding a conda-family tool, and the Jupyter system kernel dirs
        // are the sandbox's `sys/jupyter` (not /usr/local/share/jupyter).
        vars.insert("KERNELS_CONDA_ROOTS".into(), String::new());
        if let Some(path) = vars.get("PATH") {
            let kept: Vec<&str> = path
                .split(':')
                .filter(|d| {
                    !["conda", "mamba", "micromamba"]
                        .iter()
                        .any(|t| Path::new(d).join(t).exists())
                })
                .collect();
            vars.insert("PATH".into(), kept.join(":"));
        }
        let sys = dir.path().join("sys");
        std::fs::create_dir_all(&sys).expect("sys");
        vars.insert("JUPYTER_PLATFORM_DIRS".into(), "1".into());
        vars.insert("XDG_DATA_DIRS".into(), sys.display().to_string());
        // The system policy file lives in the sandbox, never /etc.
        vars.insert(
            "KERNELS_SYSTEM_POLICY".into(),
            dir.path()
                .join("etc/kernels/policy.json")
                .display()
                .to_string(),
        );
        // IPython's legacy dir, under the sandbox home by default anyway; explicit for clarity.
        vars.insert(
            "IPYTHONDIR".into(),
            home.join(".ipython").display().to_string(),
        );
        // The uv cache stays shared (warm) between tests.
        Sandbox { dir, vars }
    }

    /// The sandbox root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The sandbox HOME.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// `~/.local/share/jupyter/kernels` of the sandbox user.
    pub fn user_kernels(&self) -> PathBuf {
        self.home().join(".local/share/jupyter/kernels")
    }

    /// Sets a variable for every later run.
    pub fn set(&mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> &mut Sandbox {
        self.vars.insert(
            key.to_string(),
            value.as_ref().to_string_lossy().into_owned(),
        );
        self
    }

    /// Removes a variable for every later run.
    pub fn unset(&mut self, key: &str) -> &mut Sandbox {
        self.vars.remove(key);
        self
    }

    /// The variables runs get.
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    /// Prepends a directory to PATH.
    pub fn prepend_path(&mut self, dir: &Path) -> &mut Sandbox {
        let old = self.vars.get("PATH").cloned().unwrap_or_default();
        let new = if old.is_empty() {
            dir.display().to_string()
        } else {
            format!("{}:{old}", dir.display())
        };
        self.vars.insert("PATH".into(), new);
        self
    }

    /// A command with the sandbox environment and stdin from /dev/null.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .envs(&self.vars)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the `kernels` binary.
    pub fn kernels(&self, args: &[&str]) -> Run {
        run(self.command(kernels_bin()).args(args))
    }

    /// Runs `python -m jupyter ARGS` with the test interpreter, if there is one.
    pub fn jupyter(&self, args: &[&str]) -> Option<Run> {
        let python = test_python()?;
        Some(run(self
            .command(python)
            .arg("-m")
            .arg("jupyter")
            .args(args)))
    }

    /// Writes `<dir>/<name>/kernel.json` with the given text.
    pub fn write_spec(&self, kernels_dir: &Path, name: &str, text: &str) -> PathBuf {
        let dir = kernels_dir.join(name);
        std::fs::create_dir_all(&dir).expect("spec dir");
        std::fs::write(dir.join("kernel.json"), text).expect("kernel.json");
        dir
    }
}

/// Runs a prepared command and collects its outcome.
pub fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("spawn");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Whether `tool` is on PATH (as the shell finds it).
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A directory nobody can write in, root included (`chattr +i`: root ignores permission
/// bits, not the immutable flag). The flag comes off when this is dropped, also when the test
/// panics, so the sandbox can still be deleted.
pub struct Immutable(PathBuf);

impl Immutable {
    /// Makes `dir` immutable; `None` where the file system does not support it (the caller
    /// then skips, saying why).
    pub fn make(dir: &Path) -> Option<Immutable> {
        Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
            .then(|| Immutable(dir.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

/// The binary under test.
pub fn kernels_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kernels"))
}

/// The interpreter with jupyter_client and ipykernel (`KERNELS_TEST_PYTHON`), if configured.
pub fn test_python() -> Option<PathBuf> {
    std::env::var_os("KERNELS_TEST_PYTHON")
        .map(PathBuf::from)
        .filter(|p| p.exists())
}

/// The directory of the test interpreter (its venv's `bin`, where `jupyter` and `uv` live).
pub fn test_bin_dir() -> Option<PathBuf> {
    test_python().and_then(|p| p.parent().map(Path::to_path_buf))
}

/// Returns the test interpreter, or records why the calling test is skipped (see
/// [`crate::skip`]) and returns from it.
#[macro_export]
macro_rules! require_python {
    () => {
        $crate::require!(
            $crate::common::test_python(),
            "KERNELS_TEST_PYTHON is not set to a Python with jupyter_client and ipykernel \
             (scripts/test.sh sets it)"
        )
    };
}

/// Real conda outputs kept in the repository (`tests/fixtures/conda`, see its `index.md`).
pub fn conda_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conda")
}
