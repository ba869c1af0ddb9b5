//! Turning a [`LaunchSpec`] into the exact program, argv and environment to run.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::BootError;
use crate::spec::{BootOptions, LaunchSpec};
use crate::vars;

/// A fully resolved command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Command {
    /// The program to execute (resolved through `PATH` when argv[0] was bare).
    pub(crate) program: PathBuf,
    /// argv[1..] after substitution.
    pub(crate) args: Vec<String>,
    /// The complete environment of the kernel.
    pub(crate) env: BTreeMap<String, String>,
}

/// Build the kernel's command for a connection file at `connection_file`.
pub(crate) fn command(
    spec: &LaunchSpec,
    opts: &BootOptions,
    connection_file: &Path,
) -> Result<Command, BootError> {
    let env = kernel_env(spec, &opts.inherited_env);
    let argv = kernel_argv(spec, opts, connection_file);
    let Some((first, rest)) = argv.split_first() else {
        return Err(BootError::EmptyArgv {
            name: spec.name.clone(),
        });
    };
    let program =
        resolve_program(first, env.get(vars::PATH).map(String::as_str)).ok_or_else(|| {
            BootError::ProgramNotFound {
                name: spec.name.clone(),
                program: first.clone(),
                path: env.get(vars::PATH).cloned().unwrap_or_default(),
            }
        })?;
    Ok(Command {
        program,
        args: rest.to_vec(),
        env,
    })
}

/// argv with placeholders substituted and `~` expanded (reference §3.3).
pub(crate) fn kernel_argv(
    spec: &LaunchSpec,
    opts: &BootOptions,
    connection_file: &Path,
) -> Vec<String> {
    let mut namespace = HashMap::new();
    namespace.insert(
        "connection_file",
        connection_file.to_string_lossy().into_owned(),
    );
    namespace.insert(
        "resource_dir",
        spec.resource_dir.to_string_lossy().into_owned(),
    );
    if let Some(prefix) = &opts.prefix_for_placeholder {
        namespace.insert("prefix", prefix.to_string_lossy().into_owned());
    }
    let home = opts.inherited_env.get(vars::HOME).map(Path::new);
    kernelspec::build_argv(&spec.argv, &namespace, home)
}

/// The kernel's environment (reference §3.4): inherited env, spec env values
/// substituted against the inherited env only, `PYTHONEXECUTABLE` dropped for python
/// kernels, `JPY_PARENT_PID` set.
pub(crate) fn kernel_env(
    spec: &LaunchSpec,
    inherited: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = kernelspec::kernel_env(&spec.env, &spec.language, inherited);
    env.insert(
        vars::JPY_PARENT_PID.to_owned(),
        std::process::id().to_string(),
    );
    env
}

/// A program containing `/` is used as is; a bare name is searched on `path`.
fn resolve_program(program: &str, path: Option<&str>) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    path?
        .split(':')
        // An empty PATH entry means the current directory, as in execvp.
        .map(|dir| {
            if dir.is_empty() {
                Path::new(".")
            } else {
                Path::new(dir)
            }
        })
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::InterruptMode;

    fn spec(argv: &[&str], env: &[(&str, &str)], language: &str) -> LaunchSpec {
        LaunchSpec {
            name: "k".to_owned(),
            argv: argv.iter().map(|s| (*s).to_owned()).collect(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            language: language.to_owned(),
            interrupt_mode: InterruptMode::Signal,
            resource_dir: PathBuf::from("/spec/dir"),
        }
    }

    fn inherited(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn env_is_jupyters_plus_our_pid() {
        // The substitution rules themselves are kernelspec's (tested there).
        let s = spec(&["x"], &[("FOO", "${HOME}/x")], "python");
        let outer = inherited(&[
            ("HOME", "/tmp/home"),
            ("PYTHONEXECUTABLE", "/usr/bin/python9"),
        ]);
        let env = kernel_env(&s, &outer);
        assert_eq!(env["FOO"], "/tmp/home/x");
        assert_eq!(env["HOME"], "/tmp/home");
        assert!(!env.contains_key("PYTHONEXECUTABLE"));
        assert_eq!(env["JPY_PARENT_PID"], std::process::id().to_string());
    }

    #[test]
    fn argv_placeholders_and_tilde() {
        let s = spec(
            &[
                "~/bin/k",
                "-f",
                "{connection_file}",
                "{resource_dir}/x",
                "{prefix}",
                "{other}",
            ],
            &[],
            "python",
        );
        let mut opts = BootOptions::new(inherited(&[("HOME", "/h")]));
        let argv = kernel_argv(&s, &opts, Path::new("/run/kernel-1.json"));
        assert_eq!(
            argv,
            [
                "/h/bin/k",
                "-f",
                "/run/kernel-1.json",
                "/spec/dir/x",
                "{prefix}",
                "{other}"
            ]
        );
        opts.prefix_for_placeholder = Some(PathBuf::from("/opt/py"));
        let argv = kernel_argv(&s, &opts, Path::new("/run/kernel-1.json"));
        assert_eq!(argv[4], "/opt/py");
    }

    #[test]
    fn bare_programs_are_found_on_the_launch_path() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("mykernel");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let plain = dir.path().join("notexec");
        std::fs::write(&plain, "").unwrap();
        let path = format!("/nonexistent:{}", dir.path().display());
        assert_eq!(resolve_program("mykernel", Some(&path)), Some(exe));
        assert_eq!(resolve_program("notexec", Some(&path)), None);
        assert_eq!(resolve_program("mykernel", None), None);
        assert_eq!(
            resolve_program("/abs/prog", None),
            Some(PathBuf::from("/abs/prog"))
        );

        let s = spec(&["definitely-not-a-program-xyz"], &[], "python");
        let opts = BootOptions::new(inherited(&[("PATH", "/nonexistent")]));
        let err = command(&s, &opts, Path::new("/c.json")).unwrap_err();
        assert!(matches!(err, BootError::ProgramNotFound { .. }), "{err}");
        let empty = spec(&[], &[], "python");
        assert!(matches!(
            command(&empty, &opts, Path::new("/c.json")),
            Err(BootError::EmptyArgv { .. })
        ));
    }
}
