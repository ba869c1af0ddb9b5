//! `kernels run NAME -- CMD [ARGS…]`: a command in exactly the environment a kernel gets.
//!
//! [`prepare`] computes, without starting anything, what Jupyter would give the kernel: the
//! inherited environment overridden by the spec's `env` (values substituted against the
//! inherited environment, `PYTHONEXECUTABLE` dropped for Python kernels — see
//! [`kernelspec::kernel_env`]), then the kernel's interpreter directory first on `PATH`.
//! [`RunCommand::exec`] then *replaces* the calling process with the command (`execvp`), so
//! output goes straight to the terminal as it is written, every signal reaches the command
//! itself (it is the process), and its exit status is the exit status — the three things a
//! wrapper such as `conda run` gets wrong.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use kernelspec::KernelSpec;

use crate::spec_for_env::{env_of_spec, SpecEnv};

/// A command ready to replace this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCommand {
    /// The program as found on the kernel's `PATH` (or as given, when it has a `/`).
    pub program: PathBuf,
    /// Its arguments (after the program).
    pub args: Vec<OsString>,
    /// Variables set or changed relative to the inherited environment.
    pub set: BTreeMap<String, String>,
    /// Variables removed from the inherited environment.
    pub removed: Vec<String>,
    /// The kernel's interpreter directory, put first on `PATH`.
    pub interpreter_dir: Option<PathBuf>,
}

/// Why a command cannot be run in a kernel's environment.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No command after `--`.
    #[error("no command to run")]
    NoCommand,
    /// The command is not on the kernel's `PATH`.
    #[error("command {program:?} not found on the kernel's PATH")]
    NotFound {
        /// What was asked for.
        program: String,
    },
    /// `execvp` failed.
    #[error("could not start {program}")]
    Exec {
        /// The program.
        program: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl RunError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            RunError::NoCommand => Some("usage: kernels run NAME -- CMD [ARGS...]".into()),
            RunError::NotFound { .. } => Some(
                "give the command's full path, or install it into the kernel's environment \
                 (`kernels install NAME PACKAGE`)"
                    .into(),
            ),
            RunError::Exec { .. } => None,
        }
    }
}

/// The directory of the interpreter a kernel runs: its environment's `bin` when the spec
/// names an environment (our metadata, a wrapper's `-p PREFIX`, `<prefix>/bin/python`; a
/// wrapper's `-n NAME` through `named_env`, the prefix the caller found for that name), else
/// the directory of an absolute `argv[0]`.
pub fn interpreter_dir(spec: &KernelSpec, named_env: Option<&Path>) -> Option<PathBuf> {
    let prefix = match env_of_spec(spec) {
        Some(SpecEnv::Prefix(prefix)) => Some(prefix),
        Some(SpecEnv::Name(_)) => named_env.map(Path::to_path_buf),
        None => None,
    };
    if let Some(bin) = prefix.map(|p| p.join("bin")).filter(|b| b.is_dir()) {
        return Some(bin);
    }
    // A wrapper's own directory (conda's, bash's) is not the kernel's interpreter.
    if !crate::wrappers::parse_argv(&spec.argv).wrappers.is_empty() {
        return None;
    }
    let first = Path::new(spec.argv.first()?);
    if first.is_absolute() {
        return first.parent().map(Path::to_path_buf);
    }
    None
}

/// What Jupyter would give the kernel of `spec`, applied to `cmd`; `inherited` is this
/// process's environment, `named_env` the prefix of a conda environment the spec names (see
/// [`interpreter_dir`]). Pure but for looking the program up on the resulting `PATH`.
pub fn prepare(
    spec: &KernelSpec,
    named_env: Option<&Path>,
    inherited: &BTreeMap<String, String>,
    cmd: &[OsString],
) -> Result<RunCommand, RunError> {
    let (first, args) = cmd.split_first().ok_or(RunError::NoCommand)?;
    let mut env = kernelspec::kernel_env(&spec.env, &spec.language, inherited);
    let interpreter_dir = interpreter_dir(spec, named_env);
    if let Some(dir) = &interpreter_dir {
        let path = env.get("PATH").cloned().unwrap_or_default();
        env.insert("PATH".into(), path_with_first(&path, dir));
    }
    let set: BTreeMap<String, String> = env
        .iter()
        .filter(|(k, v)| inherited.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let removed = inherited
        .keys()
        .filter(|k| !env.contains_key(*k))
        .cloned()
        .collect();
    let program =
        find_program(first, env.get("PATH").map_or("", String::as_str)).ok_or_else(|| {
            RunError::NotFound {
                program: first.to_string_lossy().into_owned(),
            }
        })?;
    Ok(RunCommand {
        program,
        args: args.to_vec(),
        set,
        removed,
        interpreter_dir,
    })
}

/// `dir` first on the `:`-separated `path`, once (a later copy of it is left where it is).
pub fn path_with_first(path: &str, dir: &Path) -> String {
    let dir = dir.to_string_lossy();
    match path.split(':').next() {
        Some(first) if first == dir => path.to_owned(),
        _ if path.is_empty() => dir.into_owned(),
        _ => format!("{dir}:{path}"),
    }
}

/// `name` as `execvp` would find it: as given when it contains a `/`, else the first
/// executable regular file of that name in a `path` directory.
pub fn find_program(name: &std::ffi::OsStr, path: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let given = Path::new(name);
    if name.is_empty() {
        return None;
    }
    if given.components().count() > 1 || name.to_string_lossy().contains('/') {
        return Some(given.to_path_buf());
    }
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(given))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

impl RunCommand {
    /// Replaces this process with the command (returns only when that fails).
    pub fn exec(&self) -> RunError {
        let mut cmd = std::process::Command::new(&self.program);
        cmd.args(&self.args);
        for key in &self.removed {
            cmd.env_remove(key);
        }
        cmd.envs(&self.set);
        RunError::Exec {
            program: self.program.clone(),
            source: cmd.exec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> KernelSpec {
        KernelSpec::from_json_bytes(json.as_bytes()).unwrap()
    }

    #[test]
    fn kernel_env_is_applied_and_the_interpreter_comes_first() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let python = bin.join("python");
        let text = format!(
            r#"{{"argv": ["{}", "-m", "ipykernel_launcher", "-f", "{{connection_file}}"],
                "display_name": "x", "language": "python",
                "env": {{"A": "${{HOME}}/a", "PATH": "/extra:${{PATH}}"}}}}"#,
            python.display()
        );
        let inherited = BTreeMap::from([
            ("HOME".to_string(), "/h".to_string()),
            ("PATH".to_string(), "/bin:/usr/bin".to_string()),
            ("PYTHONEXECUTABLE".to_string(), "/x".to_string()),
        ]);
        let cmd = [OsString::from("/bin/sh"), OsString::from("-c")];
        let run = prepare(&spec(&text), None, &inherited, &cmd).unwrap();
        assert_eq!(run.set["A"], "/h/a");
        assert_eq!(
            run.set["PATH"],
            format!("{}:/extra:/bin:/usr/bin", bin.display())
        );
        assert_eq!(run.removed, ["PYTHONEXECUTABLE"]);
        assert_eq!(run.args, [OsString::from("-c")]);
        assert!(!run.set.contains_key("HOME"));
    }

    #[test]
    fn a_conda_run_wrapper_gets_the_named_environment_first_on_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        let wrapped = spec(
            r#"{"argv": ["/opt/conda/bin/conda", "run", "-n", "x", "python", "-m",
                "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "x", "language": "python"}"#,
        );
        let inherited = BTreeMap::from([("PATH".to_string(), "/usr/bin".to_string())]);
        let cmd = [OsString::from("/bin/true")];
        let run = prepare(&wrapped, Some(dir.path()), &inherited, &cmd).unwrap();
        assert_eq!(
            run.set["PATH"],
            format!("{}:/usr/bin", dir.path().join("bin").display())
        );
        // Unresolved, the conda executable's directory is not taken for the environment's.
        let run = prepare(&wrapped, None, &inherited, &cmd).unwrap();
        assert!(!run.set.contains_key("PATH"), "{:?}", run.set);
    }

    #[test]
    fn path_first_is_not_doubled() {
        assert_eq!(path_with_first("/a:/b", Path::new("/a")), "/a:/b");
        assert_eq!(path_with_first("/b", Path::new("/a")), "/a:/b");
        assert_eq!(path_with_first("", Path::new("/a")), "/a");
    }

    #[test]
    fn programs_are_found_like_execvp() {
        assert!(find_program("sh".as_ref(), "/nonexistent:/bin:/usr/bin").is_some());
        assert!(find_program("no-such-program-x".as_ref(), "/bin").is_none());
        assert_eq!(find_program("./x".as_ref(), ""), Some(PathBuf::from("./x")));
        assert!(prepare(
            &spec(r#"{"argv":["p"],"display_name":"d","language":"python"}"#),
            None,
            &BTreeMap::new(),
            &[]
        )
        .is_err());
    }
}
