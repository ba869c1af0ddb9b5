//! The conda / mamba / micromamba CLI driver.
//!
//! Every call goes through [`crate::process::run`] (allowlisted environment, stdin
//! `/dev/null`) with `--json` and the flavour's "yes" flag, always targets an absolute
//! `-p <prefix>` (never `-n`: names are resolved by us, not by the tool's `envs_dirs`), and
//! passes `-r <root>` to micromamba. Output is interpreted by [`crate::conda_json`].
//!
//! Safety checks live here, not only in a planner:
//! * `create` refuses when the prefix exists and is non-empty (conda and mamba would
//!   silently **wipe** an existing env, before solving) — [`EnvError::EnvExists`];
//! * `install` and `remove_env` refuse a CEP 22 frozen env (`conda-meta/frozen`), which
//!   mamba ignores entirely and conda only partly honours — [`EnvError::Frozen`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::conda_json::{self, CondaInfo, EnvList, Outcome, PackageRecord, Transaction};
use crate::discover::read_frozen;
use crate::error::EnvError;
use crate::locate::{CondaFlavor, CondaTool};
use crate::process::{self, CancelToken, NoObserver, ProcessError, ProcessObserver, ToolCommand};
use crate::tool_error::ToolRun;
use crate::vars::{HostEnv, CONDA_AUTO_ACTIVATE_BASE};

/// Wall-clock limit for solving/installing commands (a hung network must end somewhere).
const INSTALL_TIMEOUT: Duration = Duration::from_secs(3 * 3600);
/// Wall-clock limit for queries (`info`, `list`, `env list`, `--version`).
const QUERY_TIMEOUT: Duration = Duration::from_secs(120);

/// A `create` request at the driver level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CondaCreate {
    /// Target prefix (made absolute before use).
    pub prefix: PathBuf,
    /// Match specs, in order.
    pub specs: Vec<String>,
    /// Channels, each passed as `-c`.
    pub channels: Vec<String>,
    /// Add `--override-channels` (use only `channels`).
    pub override_channels: bool,
    /// An environment file (`--file` for conda, `-f` for mamba/micromamba).
    pub file: Option<PathBuf>,
}

/// Drives one conda-family executable.
#[derive(Debug, Clone)]
pub struct CondaDriver {
    tool: CondaTool,
    host: HostEnv,
    extra_env: Vec<(String, String)>,
}

impl CondaDriver {
    /// A driver for `tool`; children get an allowlisted environment built from `host`.
    pub fn new(tool: CondaTool, host: &HostEnv) -> CondaDriver {
        CondaDriver {
            tool,
            host: host.clone(),
            extra_env: Vec::new(),
        }
    }

    /// Sets a variable for every command this driver runs (for example
    /// `CONDA_PLUGINS_AUTO_ACCEPT_TOS=yes`, only with the user's consent).
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> CondaDriver {
        self.extra_env.push((key.into(), value.into()));
        self
    }

    /// The driven tool.
    pub fn tool(&self) -> &CondaTool {
        &self.tool
    }

    fn flavor(&self) -> CondaFlavor {
        self.tool.flavor
    }

    fn yes_flag(&self) -> &'static str {
        if self.flavor().is_libmamba() {
            "-y"
        } else {
            "--yes"
        }
    }

    fn command(&self, args: Vec<String>) -> ToolCommand {
        let mut cmd = ToolCommand::new(&self.tool.exe, &self.host);
        if self.flavor() != CondaFlavor::Micromamba {
            // conda byte-compiles a transaction's noarch packages (and runs activated link
            // scripts) in a shell that evals `conda shell.posix hook` and then `conda
            // activate PREFIX`. With `auto_activate_base` on, the hook first activates base:
            // one more start of conda per transaction that changes nothing in the
            // environment (docs/speed.md). conda-based mamba 1.x shares that code.
            cmd = cmd.env(CONDA_AUTO_ACTIVATE_BASE, "false");
        }
        self.extra_env
            .iter()
            .fold(cmd, |c, (k, v)| c.env(k.clone(), v.clone()))
            .args(args)
    }

    fn root_args(&self) -> Vec<String> {
        if self.flavor() == CondaFlavor::Micromamba {
            vec!["-r".into(), self.tool.root.display().to_string()]
        } else {
            Vec::new()
        }
    }

    fn channel_args(&self, channels: &[String], override_channels: bool) -> Vec<String> {
        let mut a = Vec::new();
        for c in channels {
            a.push("-c".to_owned());
            a.push(c.clone());
        }
        if override_channels {
            a.push("--override-channels".to_owned());
        }
        a
    }

    fn action(&self, verb: &str) -> String {
        format!("{} {verb}", self.flavor().command_name())
    }

    /// The argv (after the program) of `create`.
    pub fn create_args(&self, req: &CondaCreate) -> Vec<String> {
        let mut a = vec!["create".to_owned()];
        a.extend(self.root_args());
        a.push("-p".into());
        a.push(absolute(&req.prefix).display().to_string());
        a.push("--json".into());
        a.push(self.yes_flag().into());
        a.extend(self.channel_args(&req.channels, req.override_channels));
        if let Some(f) = &req.file {
            a.push(
                if self.flavor().is_libmamba() {
                    "-f"
                } else {
                    "--file"
                }
                .into(),
            );
            a.push(absolute(f).display().to_string());
        }
        a.extend(req.specs.iter().cloned());
        a
    }

    /// The `create` command, for display (`--dry-run`) or to run.
    pub fn create_command(&self, req: &CondaCreate) -> ToolCommand {
        self.command(self.create_args(req)).timeout(INSTALL_TIMEOUT)
    }

    /// Creates an environment; refuses ([`EnvError::EnvExists`]) without running the
    /// tool when the prefix exists and is not an empty directory.
    pub fn create(
        &self,
        req: &CondaCreate,
        cancel: &CancelToken,
        observer: &dyn ProcessObserver,
    ) -> Result<Transaction, EnvError> {
        let prefix = absolute(&req.prefix);
        check_create_target(&prefix)?;
        let cmd = self.create_command(req);
        let t = self.run_transaction(&cmd, &self.action("create"), &prefix, cancel, observer)?;
        if !prefix.join("conda-meta").is_dir() {
            return Err(EnvError::UnexpectedOutput {
                action: self.action("create"),
                program: self.tool.exe.clone(),
                detail: format!(
                    "it reported success but `{}` has no conda-meta",
                    prefix.display()
                ),
            });
        }
        Ok(t)
    }

    /// The argv of `create -p PREFIX --clone SOURCE`: a copy of the environment at `source`
    /// (the same package builds, linked from the package cache; the source is only read).
    pub fn clone_args(&self, prefix: &Path, source: &Path) -> Vec<String> {
        let mut a = vec!["create".to_owned()];
        a.extend(self.root_args());
        a.push("-p".into());
        a.push(absolute(prefix).display().to_string());
        a.push("--clone".into());
        a.push(absolute(source).display().to_string());
        a.push("--json".into());
        a.push(self.yes_flag().into());
        a
    }

    /// The clone command, for display or to run.
    pub fn clone_command(&self, prefix: &Path, source: &Path) -> ToolCommand {
        self.command(self.clone_args(prefix, source))
            .timeout(INSTALL_TIMEOUT)
    }

    /// Clones `source` into `prefix`; refuses ([`EnvError::EnvExists`]) without running the
    /// tool when the prefix exists and is not an empty directory.
    pub fn clone_env(
        &self,
        prefix: &Path,
        source: &Path,
        cancel: &CancelToken,
        observer: &dyn ProcessObserver,
    ) -> Result<Transaction, EnvError> {
        let prefix = absolute(prefix);
        check_create_target(&prefix)?;
        let cmd = self.clone_command(&prefix, source);
        self.run_transaction(&cmd, &self.action("clone"), &prefix, cancel, observer)
    }

    /// The argv of `install`.
    pub fn install_args(
        &self,
        prefix: &Path,
        specs: &[String],
        channels: &[String],
        override_channels: bool,
    ) -> Vec<String> {
        let mut a = vec!["install".to_owned()];
        a.extend(self.root_args());
        a.push("-p".into());
        a.push(absolute(prefix).display().to_string());
        a.push("--json".into());
        a.push(self.yes_flag().into());
        a.extend(self.channel_args(channels, override_channels));
        a.extend(specs.iter().cloned());
        a
    }

    /// The `install` command.
    pub fn install_command(
        &self,
        prefix: &Path,
        specs: &[String],
        channels: &[String],
        override_channels: bool,
    ) -> ToolCommand {
        self.command(self.install_args(prefix, specs, channels, override_channels))
            .timeout(INSTALL_TIMEOUT)
    }

    /// Installs specs into an existing environment; refuses frozen envs.
    pub fn install(
        &self,
        prefix: &Path,
        specs: &[String],
        channels: &[String],
        override_channels: bool,
        cancel: &CancelToken,
        observer: &dyn ProcessObserver,
    ) -> Result<Transaction, EnvError> {
        let prefix = absolute(prefix);
        check_not_frozen(&prefix)?;
        let cmd = self.install_command(&prefix, specs, channels, override_channels);
        self.run_transaction(&cmd, &self.action("install"), &prefix, cancel, observer)
    }

    /// The argv that deletes an environment: conda `remove -p P --all --json --yes`;
    /// mamba/micromamba `env remove -p P -y --json` (their `remove --all` keeps the
    /// directory).
    pub fn remove_env_args(&self, prefix: &Path) -> Vec<String> {
        let p = absolute(prefix).display().to_string();
        match self.flavor() {
            CondaFlavor::Conda => vec![
                "remove".into(),
                "-p".into(),
                p,
                "--all".into(),
                "--json".into(),
                "--yes".into(),
            ],
            _ => {
                let mut a = vec!["env".to_owned(), "remove".into()];
                a.extend(self.root_args());
                a.extend(["-p".into(), p, "-y".into(), "--json".into()]);
                a
            }
        }
    }

    /// Deletes an environment through the tool (which also unregisters it); refuses
    /// frozen envs.
    pub fn remove_env(
        &self,
        prefix: &Path,
        cancel: &CancelToken,
        observer: &dyn ProcessObserver,
    ) -> Result<Transaction, EnvError> {
        let prefix = absolute(prefix);
        check_not_frozen(&prefix)?;
        let cmd = self
            .command(self.remove_env_args(&prefix))
            .timeout(INSTALL_TIMEOUT);
        self.run_transaction(&cmd, &self.action("remove"), &prefix, cancel, observer)
    }

    /// `list --json -p P`.
    pub fn list(
        &self,
        prefix: &Path,
        cancel: &CancelToken,
    ) -> Result<Vec<PackageRecord>, EnvError> {
        let prefix = absolute(prefix);
        let mut a = vec!["list".to_owned()];
        a.extend(self.root_args());
        a.extend(["--json".into(), "-p".into(), prefix.display().to_string()]);
        let cmd = self.command(a).timeout(QUERY_TIMEOUT);
        let action = self.action("list");
        let out = self.run_query(&cmd, &action, cancel)?;
        match conda_json::parse_list(&out.stdout) {
            Some(list) if out.success() => Ok(list),
            _ => Err(self.query_failure(&cmd, &action, &prefix, &out)),
        }
    }

    /// `info --json`.
    pub fn info(&self, cancel: &CancelToken) -> Result<CondaInfo, EnvError> {
        let mut a = vec!["info".to_owned()];
        a.extend(self.root_args());
        a.push("--json".into());
        let cmd = self.command(a).timeout(QUERY_TIMEOUT);
        let action = self.action("info");
        let out = self.run_query(&cmd, &action, cancel)?;
        match conda_json::parse_info(&out.stdout) {
            Some(i) if out.success() => Ok(i),
            _ => Err(self.query_failure(&cmd, &action, &self.tool.root, &out)),
        }
    }

    /// `env list --json`. Note that conda rewrites `~/.conda/environments.txt` when it
    /// runs this; prefer [`crate::list_envs`].
    pub fn env_list(&self, cancel: &CancelToken) -> Result<EnvList, EnvError> {
        let mut a = vec!["env".to_owned(), "list".into()];
        a.extend(self.root_args());
        a.push("--json".into());
        let cmd = self.command(a).timeout(QUERY_TIMEOUT);
        let action = self.action("env list");
        let out = self.run_query(&cmd, &action, cancel)?;
        match conda_json::parse_env_list(&out.stdout) {
            Some(l) if out.success() => Ok(l),
            _ => Err(self.query_failure(&cmd, &action, &self.tool.root, &out)),
        }
    }

    /// `--version`, trimmed.
    pub fn version(&self) -> Result<String, EnvError> {
        let cmd = self
            .command(vec!["--version".into()])
            .timeout(QUERY_TIMEOUT);
        let action = self.action("--version");
        let out = process::run_checked(&cmd, &CancelToken::new(), &NoObserver)
            .map_err(|source| EnvError::Process { action, source })?;
        Ok(out.stdout.trim().to_owned())
    }

    fn run_query(
        &self,
        cmd: &ToolCommand,
        action: &str,
        cancel: &CancelToken,
    ) -> Result<process::ToolOutput, EnvError> {
        process::run(cmd, cancel, &NoObserver).map_err(|source| EnvError::Process {
            action: action.to_owned(),
            source,
        })
    }

    fn query_failure(
        &self,
        cmd: &ToolCommand,
        action: &str,
        prefix: &Path,
        out: &process::ToolOutput,
    ) -> EnvError {
        let failure = match conda_json::interpret(&out.stdout, &out.stderr, out.code) {
            Outcome::Failure(f) => f,
            Outcome::Success(_) => conda_json::CondaFailure::Other {
                exception_name: None,
                message: "output was not in the expected JSON shape".to_owned(),
            },
        };
        EnvError::Conda {
            action: action.to_owned(),
            prefix: prefix.to_path_buf(),
            failure,
            details: Box::new(ToolRun::new(cmd, out)),
        }
    }

    fn run_transaction(
        &self,
        cmd: &ToolCommand,
        action: &str,
        prefix: &Path,
        cancel: &CancelToken,
        observer: &dyn ProcessObserver,
    ) -> Result<Transaction, EnvError> {
        let out = process::run(cmd, cancel, observer).map_err(|source| EnvError::Process {
            action: action.to_owned(),
            source,
        })?;
        // libmamba exits 0 after a Ctrl-C: never read that as success.
        if cancel.is_cancelled() {
            return Err(EnvError::Process {
                action: action.to_owned(),
                source: ProcessError::Interrupted {
                    command: cmd.display(),
                    stderr_tail: process::tail(&out.stderr, 20),
                },
            });
        }
        match conda_json::interpret(&out.stdout, &out.stderr, out.code) {
            Outcome::Success(t) => Ok(t),
            Outcome::Failure(failure) => Err(EnvError::Conda {
                action: action.to_owned(),
                prefix: prefix.to_path_buf(),
                failure,
                details: Box::new(ToolRun::new(cmd, &out)),
            }),
        }
    }
}

/// `path` made absolute against the current directory (unchanged when it already is).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The one file a create target may already hold: the guard `kernels` writes into a prefix
/// before the tool fills it (the environment's marker, in the state "installing").
pub const PREFIX_GUARD: &str = ".kernels-env.json";

/// Refuses a create target that exists and is not an empty directory (or one holding only
/// [`PREFIX_GUARD`]), or that has a `conda-meta`: conda/mamba would delete it.
pub fn check_create_target(prefix: &Path) -> Result<(), EnvError> {
    let exists = std::fs::symlink_metadata(prefix).is_ok();
    if !exists {
        return Ok(());
    }
    let only_guard = prefix.is_dir()
        && std::fs::read_dir(prefix)
            .map(|rd| rd.flatten().all(|e| e.file_name() == PREFIX_GUARD))
            .unwrap_or(false);
    if only_guard && !prefix.join("conda-meta").exists() {
        Ok(())
    } else {
        Err(EnvError::EnvExists {
            prefix: prefix.to_path_buf(),
        })
    }
}

/// Refuses a CEP 22 frozen prefix.
pub fn check_not_frozen(prefix: &Path) -> Result<(), EnvError> {
    match read_frozen(prefix) {
        Some(f) => Err(EnvError::Frozen {
            prefix: prefix.to_path_buf(),
            message: f.message,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn driver(flavor: CondaFlavor) -> CondaDriver {
        let exe = match flavor {
            CondaFlavor::Conda => "/opt/conda/bin/conda",
            CondaFlavor::Mamba => "/opt/conda/bin/mamba",
            CondaFlavor::Micromamba => "/usr/local/bin/micromamba",
        };
        let root = match flavor {
            CondaFlavor::Micromamba => "/home/u/.local/share/mamba",
            _ => "/opt/conda",
        };
        CondaDriver::new(
            CondaTool {
                exe: exe.into(),
                flavor,
                root: root.into(),
            },
            &HostEnv::from_vars([
                ("HOME", "/home/u"),
                ("PATH", "/usr/bin"),
                ("CONDA_PREFIX", "/bad"),
            ]),
        )
    }

    fn req() -> CondaCreate {
        CondaCreate {
            prefix: "/e/new".into(),
            specs: vec!["python=3.11".into(), "pip".into(), "ipykernel".into()],
            channels: vec!["conda-forge".into()],
            override_channels: true,
            file: None,
        }
    }

    #[test]
    fn create_argv_per_flavor() {
        assert_eq!(
            driver(CondaFlavor::Conda).create_args(&req()),
            [
                "create",
                "-p",
                "/e/new",
                "--json",
                "--yes",
                "-c",
                "conda-forge",
                "--override-channels",
                "python=3.11",
                "pip",
                "ipykernel"
            ]
        );
        assert_eq!(
            driver(CondaFlavor::Mamba).create_args(&req()),
            [
                "create",
                "-p",
                "/e/new",
                "--json",
                "-y",
                "-c",
                "conda-forge",
                "--override-channels",
                "python=3.11",
                "pip",
                "ipykernel"
            ]
        );
        assert_eq!(
            driver(CondaFlavor::Micromamba).create_args(&req()),
            [
                "create",
                "-r",
                "/home/u/.local/share/mamba",
                "-p",
                "/e/new",
                "--json",
                "-y",
                "-c",
                "conda-forge",
                "--override-channels",
                "python=3.11",
                "pip",
                "ipykernel"
            ]
        );
        let mut r = req();
        r.file = Some("/w/environment.yml".into());
        r.specs.clear();
        r.channels.clear();
        r.override_channels = false;
        assert_eq!(
            driver(CondaFlavor::Conda).create_args(&r),
            [
                "create",
                "-p",
                "/e/new",
                "--json",
                "--yes",
                "--file",
                "/w/environment.yml"
            ]
        );
        assert_eq!(
            driver(CondaFlavor::Mamba).create_args(&r),
            [
                "create",
                "-p",
                "/e/new",
                "--json",
                "-y",
                "-f",
                "/w/environment.yml"
            ]
        );
    }

    #[test]
    fn relative_prefix_becomes_absolute() {
        let mut r = req();
        r.prefix = "rel/env".into();
        let args = driver(CondaFlavor::Micromamba).create_args(&r);
        assert!(Path::new(&args[4]).is_absolute(), "{args:?}");
    }

    #[test]
    fn install_and_remove_argv_per_flavor() {
        let p = Path::new("/e/x");
        let specs = vec!["numpy".to_owned()];
        assert_eq!(
            driver(CondaFlavor::Conda).install_args(p, &specs, &[], false),
            ["install", "-p", "/e/x", "--json", "--yes", "numpy"]
        );
        assert_eq!(
            driver(CondaFlavor::Micromamba).install_args(p, &specs, &[], false),
            [
                "install",
                "-r",
                "/home/u/.local/share/mamba",
                "-p",
                "/e/x",
                "--json",
                "-y",
                "numpy"
            ]
        );
        assert_eq!(
            driver(CondaFlavor::Conda).remove_env_args(p),
            ["remove", "-p", "/e/x", "--all", "--json", "--yes"]
        );
        assert_eq!(
            driver(CondaFlavor::Mamba).remove_env_args(p),
            ["env", "remove", "-p", "/e/x", "-y", "--json"]
        );
        assert_eq!(
            driver(CondaFlavor::Micromamba).remove_env_args(p),
            [
                "env",
                "remove",
                "-r",
                "/home/u/.local/share/mamba",
                "-p",
                "/e/x",
                "-y",
                "--json"
            ]
        );
    }

    #[test]
    fn commands_do_not_inherit_conda_state() {
        let cmd = driver(CondaFlavor::Conda).create_command(&req());
        assert!(!cmd.get_env().contains_key("CONDA_PREFIX"));
    }

    #[test]
    fn conda_children_do_not_auto_activate_base() {
        for flavor in [CondaFlavor::Conda, CondaFlavor::Mamba] {
            let cmd = driver(flavor).create_command(&req());
            let got = cmd.get_env().get(CONDA_AUTO_ACTIVATE_BASE);
            assert_eq!(got.map(String::as_str), Some("false"), "{flavor:?}");
        }
        let cmd = driver(CondaFlavor::Micromamba).create_command(&req());
        assert!(!cmd.get_env().contains_key(CONDA_AUTO_ACTIVATE_BASE));
    }

    #[test]
    fn create_target_rules() {
        let t = tempfile::tempdir().unwrap();
        assert!(check_create_target(&t.path().join("absent")).is_ok());
        let empty = t.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(check_create_target(&empty).is_ok());
        // The guard kernels writes first is the one file a target may hold.
        std::fs::write(empty.join(PREFIX_GUARD), "{}").unwrap();
        assert!(check_create_target(&empty).is_ok());
        std::fs::write(empty.join("notes.txt"), "").unwrap();
        assert!(check_create_target(&empty).is_err());
        let full = t.path().join("full");
        std::fs::create_dir_all(full.join("conda-meta")).unwrap();
        assert!(matches!(
            check_create_target(&full),
            Err(EnvError::EnvExists { .. })
        ));
        let file = t.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(matches!(
            check_create_target(&file),
            Err(EnvError::EnvExists { .. })
        ));
    }
}
