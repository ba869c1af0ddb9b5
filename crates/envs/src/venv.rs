//! The venv driver: the user's uv when there is one, else kernels' own uv, else
//! `python -m venv` and pip. The choice is a [`VenvInstaller`], made by
//! [`VenvDriver::choose_installer`] just before a create.
//!
//! **The user's uv** ([`VenvInstaller::Uv`]):
//! 1. `uv venv --python <interpreter> --no-python-downloads --no-config --no-project
//!    --allow-existing <prefix>` (an explicit interpreter and no downloads: uv never fetches
//!    a Python behind the user's back; no seed packages — pip is installed only when
//!    requested; `--allow-existing` because the prefix already holds the guard `kernels`
//!    writes first, and [`crate::check_create_target`] has refused anything else there);
//! 2. `uv pip install --python <prefix>/bin/python --no-config <packages> [-r file]`.
//!
//! **kernels' own uv** ([`VenvInstaller::OwnUv`]; no uv found, provisioning allowed, see
//! [`crate::provision`]): the environment is exactly what the venv module makes, with pip:
//! 1. `<python> -m venv --without-pip <prefix>` (skips ensurepip, ~6 s);
//! 2. `<own uv> pip install --python <prefix>/bin/python --no-config <the user's pip index
//!    settings> pip <packages> [-r file]` (see [`crate::pipconf`]).
//!
//! When uv cannot be provisioned (no pip in the base interpreter, offline, no index has
//! it, …) or the user's pip configuration has no uv equivalent, the create says so in one
//! line and goes on with pip; only Ctrl-C stops it.
//!
//! **pip** ([`VenvInstaller::Pip`]): `<python> -m venv <prefix>` (with ensurepip), then
//! `<prefix>/bin/python -m pip install --no-input <packages> [-r file]`. docs/speed.md has
//! the measurements behind these choices.
//!
//! `create` refuses a prefix that exists and is not empty ([`EnvError::EnvExists`]):
//! `python -m venv` would write into it silently.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::conda::check_create_target;
use crate::error::EnvError;
use crate::locate::UvProvision;
use crate::pipconf::{self, UvIndexOptions};
use crate::process::{self, CancelToken, ProcessObserver, ToolCommand};
use crate::progress::{Event, LineForwarder, Progress, Step};
use crate::vars::{self, HostEnv};

const INSTALL_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// The interpreter a venv is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PythonChoice {
    /// An interpreter path.
    Path(PathBuf),
    /// A version request (`3.11`) that uv resolves among installed interpreters.
    Request(String),
}

impl PythonChoice {
    fn as_arg(&self) -> String {
        match self {
            PythonChoice::Path(p) => p.display().to_string(),
            PythonChoice::Request(r) => r.clone(),
        }
    }
}

/// What to install into a venv.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipInstall {
    /// Requirement strings.
    pub packages: Vec<String>,
    /// A requirements file (`-r`).
    pub requirements: Option<PathBuf>,
}

impl PipInstall {
    /// True when there is nothing to install.
    pub fn is_empty(&self) -> bool {
        self.packages.is_empty() && self.requirements.is_none()
    }
}

/// How a new venv is made and filled (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VenvInstaller {
    /// The user's uv: `uv venv` + `uv pip install`.
    Uv(PathBuf),
    /// kernels' own uv: `python -m venv --without-pip` + `uv pip install pip …`.
    OwnUv {
        /// The provisioned uv.
        uv: PathBuf,
        /// The user's pip index settings, for uv.
        index: UvIndexOptions,
    },
    /// `python -m venv` + the environment's pip.
    Pip,
}

/// Drives uv or venv+pip.
#[derive(Debug, Clone)]
pub struct VenvDriver {
    uv: Option<PathBuf>,
    provision: Option<Box<UvProvision>>,
    host: HostEnv,
}

/// `<prefix>/bin/python`.
pub fn env_python(prefix: &Path) -> PathBuf {
    prefix.join("bin/python")
}

impl VenvDriver {
    /// A driver that uses `uv` when given (and never provisions one).
    pub fn new(uv: Option<PathBuf>, host: &HostEnv) -> VenvDriver {
        VenvDriver {
            uv,
            provision: None,
            host: host.clone(),
        }
    }

    /// Lets creates without a uv of the user's use (and first install) kernels' own uv.
    pub fn with_provision(mut self, provision: Option<Box<UvProvision>>) -> VenvDriver {
        self.provision = provision;
        self
    }

    /// True when the user's uv is used.
    pub fn uses_uv(&self) -> bool {
        self.uv.is_some()
    }

    /// The installer a create would use now, without installing anything: kernels' own uv
    /// counts as chosen when provisioning is allowed and the pip settings translate.
    pub fn planned_installer(&self) -> VenvInstaller {
        if let Some(uv) = &self.uv {
            return VenvInstaller::Uv(uv.clone());
        }
        match (&self.provision, pipconf::uv_options_from_pip(&self.host)) {
            (Some(p), Ok(index)) => VenvInstaller::OwnUv { uv: p.uv(), index },
            _ => VenvInstaller::Pip,
        }
    }

    /// The installer for a create, provisioning kernels' own uv first when needed (a
    /// [`Step::ProvisionUv`] step). Every reason not to use uv is told as an
    /// [`Event::Notice`] and gives [`VenvInstaller::Pip`]; only an interruption is an error.
    pub fn choose_installer(
        &self,
        python: &PythonChoice,
        cancel: &CancelToken,
        progress: &dyn Progress,
    ) -> Result<VenvInstaller, EnvError> {
        if let Some(uv) = &self.uv {
            return Ok(VenvInstaller::Uv(uv.clone()));
        }
        let PythonChoice::Path(base) = python else {
            return Ok(VenvInstaller::Pip);
        };
        self.own_uv_or_pip(Some(base), cancel, progress)
    }

    /// The installer for packages into an existing venv: the same choice as a create (the
    /// user's uv, else kernels' own uv, provisioned with `base`'s pip when it is not there
    /// yet, else the environment's pip), with the same notices and fallbacks.
    pub fn choose_install_installer(
        &self,
        base: Option<&Path>,
        cancel: &CancelToken,
        progress: &dyn Progress,
    ) -> Result<VenvInstaller, EnvError> {
        match &self.uv {
            Some(uv) => Ok(VenvInstaller::Uv(uv.clone())),
            None => self.own_uv_or_pip(base, cancel, progress),
        }
    }

    /// kernels' own uv (provisioned with `base`'s pip when needed, as a
    /// [`Step::ProvisionUv`] step), else pip.
    fn own_uv_or_pip(
        &self,
        base: Option<&Path>,
        cancel: &CancelToken,
        progress: &dyn Progress,
    ) -> Result<VenvInstaller, EnvError> {
        let Some(p) = &self.provision else {
            return Ok(VenvInstaller::Pip);
        };
        let index = match pipconf::uv_options_from_pip(&self.host) {
            Ok(index) => index,
            Err(u) => {
                progress.event(&Event::Notice(&format!(
                    "Using pip, not uv: the pip setting `{}` (in {}) has no uv equivalent",
                    u.key, u.origin
                )));
                return Ok(VenvInstaller::Pip);
            }
        };
        if p.is_ready() {
            return Ok(VenvInstaller::OwnUv { uv: p.uv(), index });
        }
        let Some(base) = base else {
            return Ok(VenvInstaller::Pip);
        };
        progress.event(&Event::Started(&Step::ProvisionUv {
            dir: p.dir.clone(),
            python: base.to_path_buf(),
        }));
        let observer = LineForwarder::all(progress);
        match crate::provision::provision_uv(p, base, &self.host, cancel, &observer) {
            Ok(uv) => Ok(VenvInstaller::OwnUv { uv, index }),
            Err(e) if e.is_interrupted() || cancel.is_cancelled() => Err(e),
            Err(e) => {
                progress.event(&Event::Notice(&format!(
                    "Could not install uv ({}); using pip",
                    crate::provision::one_line(&e)
                )));
                Ok(VenvInstaller::Pip)
            }
        }
    }

    /// The commands a create would run now, in order (for `--dry-run`): with kernels' own
    /// uv not yet there, its provisioning command comes first.
    pub fn create_commands(
        &self,
        python: &PythonChoice,
        prefix: &Path,
        pkgs: &PipInstall,
    ) -> Vec<ToolCommand> {
        let installer = self.planned_installer();
        let mut cmds = Vec::new();
        if let (VenvInstaller::OwnUv { .. }, Some(p), PythonChoice::Path(base)) =
            (&installer, &self.provision, python)
        {
            if !p.is_ready() {
                cmds.push(crate::provision::provision_command(
                    base, &p.dir, &self.host,
                ));
            }
        }
        cmds.extend(self.commands_for(&installer, python, prefix, pkgs));
        cmds
    }

    /// The commands that make the venv at `prefix` with `installer` and install `pkgs`.
    pub fn commands_for(
        &self,
        installer: &VenvInstaller,
        python: &PythonChoice,
        prefix: &Path,
        pkgs: &PipInstall,
    ) -> Vec<ToolCommand> {
        let prefix = crate::conda::absolute(prefix);
        let venv = ToolCommand::new(python.as_arg(), &self.host).args(["-m", "venv"]);
        let make = match installer {
            VenvInstaller::Uv(uv) => ToolCommand::new(uv, &self.host)
                .args(["venv", "--python"])
                .arg(python.as_arg())
                .args([
                    "--no-python-downloads",
                    "--no-config",
                    "--no-project",
                    "--allow-existing",
                ]),
            VenvInstaller::OwnUv { .. } => venv.arg("--without-pip"),
            VenvInstaller::Pip => venv,
        };
        let mut cmds = vec![make.arg(&prefix).timeout(INSTALL_TIMEOUT)];
        match installer {
            VenvInstaller::OwnUv { uv, index } => {
                let mut with_pip = pkgs.clone();
                if !with_pip.packages.iter().any(|p| p == "pip") {
                    with_pip.packages.insert(0, "pip".to_owned());
                }
                let mut cmd = ToolCommand::new(uv, &self.host)
                    .args(["pip", "install", "--python"])
                    .arg(env_python(&prefix))
                    .arg("--no-config")
                    .args(&index.args);
                for (k, v) in &index.env {
                    cmd = cmd.env(k.clone(), v.clone());
                }
                cmds.push(with_packages(cmd, &with_pip).timeout(INSTALL_TIMEOUT));
            }
            _ if !pkgs.is_empty() => cmds.push(self.install_command_with(installer, &prefix, pkgs)),
            _ => {}
        }
        cmds
    }

    /// The commands an install into the venv at `prefix` would run now (for the plan): with
    /// kernels' own uv not yet there, its provisioning with `base`'s pip comes first.
    pub fn install_commands(
        &self,
        base: Option<&Path>,
        prefix: &Path,
        pkgs: &PipInstall,
    ) -> Vec<ToolCommand> {
        let mut installer = self.planned_installer();
        let mut cmds = Vec::new();
        if let (VenvInstaller::OwnUv { .. }, Some(p)) = (&installer, &self.provision) {
            match base {
                _ if p.is_ready() => {}
                Some(base) => cmds.push(crate::provision::provision_command(
                    base, &p.dir, &self.host,
                )),
                None => installer = VenvInstaller::Pip,
            }
        }
        cmds.push(self.install_command_with(&installer, prefix, pkgs));
        cmds
    }

    /// The command that installs `pkgs` into the venv at `prefix` with `installer`: `uv pip
    /// install` (kernels' own uv with the user's pip index settings), or the env's pip.
    pub fn install_command_with(
        &self,
        installer: &VenvInstaller,
        prefix: &Path,
        pkgs: &PipInstall,
    ) -> ToolCommand {
        let py = env_python(&crate::conda::absolute(prefix));
        let uv_install = |uv: &Path| {
            ToolCommand::new(uv, &self.host)
                .args(["pip", "install", "--python"])
                .arg(&py)
                .arg("--no-config")
        };
        let cmd = match installer {
            VenvInstaller::Uv(uv) => uv_install(uv),
            VenvInstaller::OwnUv { uv, index } => index
                .env
                .iter()
                .fold(uv_install(uv).args(&index.args), |c, (k, v)| {
                    c.env(k.clone(), v.clone())
                }),
            VenvInstaller::Pip => pip_command(&py, &self.host),
        };
        with_packages(cmd, pkgs).timeout(INSTALL_TIMEOUT)
    }

    /// Creates the venv with `installer` and installs `pkgs`. Refuses an existing non-empty
    /// prefix; on failure removes the prefix again if this call created it.
    pub fn create(
        &self,
        installer: &VenvInstaller,
        python: &PythonChoice,
        prefix: &Path,
        pkgs: &PipInstall,
        cancel: &CancelToken,
        observer: &dyn ProcessObserver,
    ) -> Result<(), EnvError> {
        let prefix = crate::conda::absolute(prefix);
        check_create_target(&prefix)?;
        let existed = prefix.exists();
        let result = self
            .commands_for(installer, python, &prefix, pkgs)
            .iter()
            .try_for_each(|cmd| run_step(cmd, cancel, observer));
        if result.is_err() && !existed {
            let _ = std::fs::remove_dir_all(&prefix);
        }
        result
    }

    /// Installs `pkgs` into the existing venv (or any env with a `bin/python`) with
    /// `installer` (see [`VenvDriver::choose_install_installer`]).
    pub fn install(
        &self,
        installer: &VenvInstaller,
        prefix: &Path,
        pkgs: &PipInstall,
        cancel: &CancelToken,
        observer: &dyn ProcessObserver,
    ) -> Result<(), EnvError> {
        if pkgs.is_empty() {
            return Ok(());
        }
        if !env_python(prefix).exists() {
            return Err(EnvError::NotAnEnvironment {
                prefix: prefix.to_path_buf(),
                expected: "Python",
            });
        }
        let cmd = self.install_command_with(installer, prefix, pkgs);
        run_step(&cmd, cancel, observer)
    }
}

/// `<python> -m pip install --no-input`, honouring the user's `PIP_CONFIG_FILE`.
fn pip_command(python: &Path, host: &HostEnv) -> ToolCommand {
    let cmd = ToolCommand::new(python, host).args(["-m", "pip", "install", "--no-input"]);
    match host.get(vars::PIP_CONFIG_FILE) {
        Some(f) => cmd.env(vars::PIP_CONFIG_FILE, f),
        None => cmd,
    }
}

/// The pip command for an env that has its own pip (conda envs):
/// `<prefix>/bin/python -m pip install --no-input <packages> [-r file]`.
pub fn pip_install_command(prefix: &Path, pkgs: &PipInstall, host: &HostEnv) -> ToolCommand {
    let cmd = pip_command(&env_python(prefix), host);
    with_packages(cmd, pkgs).timeout(INSTALL_TIMEOUT)
}

fn with_packages(mut cmd: ToolCommand, pkgs: &PipInstall) -> ToolCommand {
    cmd = cmd.args(&pkgs.packages);
    if let Some(r) = &pkgs.requirements {
        cmd = cmd.arg("-r").arg(crate::conda::absolute(r));
    }
    cmd
}

/// Runs one step, mapping failures to [`EnvError::Process`].
pub(crate) fn run_step(
    cmd: &ToolCommand,
    cancel: &CancelToken,
    observer: &dyn ProcessObserver,
) -> Result<(), EnvError> {
    process::run_checked(cmd, cancel, observer)
        .map(|_| ())
        .map_err(|source| EnvError::Process {
            action: format!(
                "{} {}",
                cmd.program()
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
                cmd.args_lossy()
                    .iter()
                    .take(2)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            source,
        })
}

/// Deletes a venv directory. The caller decides whether it may (only envs `kernels`
/// created).
pub fn remove_prefix(prefix: &Path) -> Result<(), EnvError> {
    std::fs::remove_dir_all(prefix).map_err(|source| EnvError::Io {
        action: "remove environment directory".to_owned(),
        path: prefix.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostEnv {
        HostEnv::from_vars([
            ("HOME", "/h"),
            ("PATH", "/usr/bin"),
            ("VIRTUAL_ENV", "/v"),
            ("UV_PYTHON", "3.8"),
        ])
    }

    #[test]
    fn uv_commands() {
        let d = VenvDriver::new(Some("/bin/uv".into()), &host());
        let pkgs = PipInstall {
            packages: vec!["ipykernel".into(), "numpy".into()],
            requirements: Some("/w/req.txt".into()),
        };
        let cmds = d.create_commands(
            &PythonChoice::Path("/usr/bin/python3".into()),
            Path::new("/e/v"),
            &pkgs,
        );
        assert_eq!(cmds.len(), 2);
        assert_eq!(
            cmds[0].args_lossy(),
            [
                "venv",
                "--python",
                "/usr/bin/python3",
                "--no-python-downloads",
                "--no-config",
                "--no-project",
                "--allow-existing",
                "/e/v"
            ]
        );
        assert_eq!(
            cmds[1].args_lossy(),
            [
                "pip",
                "install",
                "--python",
                "/e/v/bin/python",
                "--no-config",
                "ipykernel",
                "numpy",
                "-r",
                "/w/req.txt"
            ]
        );
        assert!(!cmds[1].get_env().contains_key("VIRTUAL_ENV"));
        assert!(!cmds[1].get_env().contains_key("UV_PYTHON"));
    }

    #[test]
    fn pip_commands() {
        let d = VenvDriver::new(None, &host());
        let pkgs = PipInstall {
            packages: vec!["ipykernel".into()],
            requirements: None,
        };
        let cmds = d.create_commands(
            &PythonChoice::Path("/usr/bin/python3".into()),
            Path::new("/e/v"),
            &pkgs,
        );
        assert_eq!(cmds[0].program(), Path::new("/usr/bin/python3"));
        assert_eq!(cmds[0].args_lossy(), ["-m", "venv", "/e/v"]);
        assert_eq!(cmds[1].program(), Path::new("/e/v/bin/python"));
        assert_eq!(
            cmds[1].args_lossy(),
            ["-m", "pip", "install", "--no-input", "ipykernel"]
        );
        let only_venv = d.create_commands(
            &PythonChoice::Path("/p".into()),
            Path::new("/e/v"),
            &PipInstall::default(),
        );
        assert_eq!(only_venv.len(), 1);
    }

    #[test]
    fn own_uv_makes_a_plain_venv_and_installs_pip_with_the_users_index() {
        let d = VenvDriver::new(None, &host());
        let own = VenvInstaller::OwnUv {
            uv: "/t/uv/bin/uv".into(),
            index: UvIndexOptions {
                args: vec!["--index-url".into(), "http://mirror/simple".into()],
                env: vec![("SSL_CERT_FILE".into(), "/ca.pem".into())],
            },
        };
        let pkgs = PipInstall {
            packages: vec!["ipykernel".into()],
            requirements: Some("/w/req.txt".into()),
        };
        let cmds = d.commands_for(
            &own,
            &PythonChoice::Path("/usr/bin/python3".into()),
            Path::new("/e/v"),
            &pkgs,
        );
        assert_eq!(cmds[0].program(), Path::new("/usr/bin/python3"));
        assert_eq!(
            cmds[0].args_lossy(),
            ["-m", "venv", "--without-pip", "/e/v"]
        );
        assert_eq!(cmds[1].program(), Path::new("/t/uv/bin/uv"));
        assert_eq!(
            cmds[1].args_lossy(),
            [
                "pip",
                "install",
                "--python",
                "/e/v/bin/python",
                "--no-config",
                "--index-url",
                "http://mirror/simple",
                "pip",
                "ipykernel",
                "-r",
                "/w/req.txt"
            ]
        );
        assert_eq!(
            cmds[1].get_env().get("SSL_CERT_FILE").map(String::as_str),
            Some("/ca.pem")
        );
        assert!(!cmds[1].get_env().contains_key("VIRTUAL_ENV"));
    }

    #[test]
    fn install_into_an_existing_venv_chooses_like_add() {
        let t = tempfile::tempdir().unwrap();
        let provision = UvProvision {
            dir: t.path().join("tools/uv"),
        };
        // No pip configuration files of the machine's (they would add index options).
        let host = HostEnv::from_vars([
            ("HOME", "/h"),
            ("PATH", "/usr/bin"),
            ("PIP_CONFIG_FILE", "/dev/null"),
        ]);
        let d = VenvDriver::new(None, &host).with_provision(Some(Box::new(provision.clone())));
        let pkgs = PipInstall {
            packages: vec!["six".into()],
            requirements: None,
        };
        let argv = |c: &ToolCommand| {
            std::iter::once(c.program().display().to_string())
                .chain(c.args_lossy())
                .collect::<Vec<_>>()
        };
        let own = provision.uv().display().to_string();
        let own_install = [
            own.as_str(),
            "pip",
            "install",
            "--python",
            "/e/v/bin/python",
            "--no-config",
            "six",
        ];
        // Not provisioned yet: the base interpreter's pip installs it first.
        let cmds = d.install_commands(
            Some(Path::new("/usr/bin/python3")),
            Path::new("/e/v"),
            &pkgs,
        );
        assert_eq!(cmds.len(), 2);
        assert_eq!(cmds[0].program(), Path::new("/usr/bin/python3"));
        assert_eq!(cmds[0].args_lossy()[..3], ["-m", "pip", "install"]);
        assert_eq!(argv(&cmds[1]), own_install);
        // Without a base interpreter to provision it with: the env's pip.
        let cmds = d.install_commands(None, Path::new("/e/v"), &pkgs);
        assert_eq!(
            argv(&cmds[0]),
            [
                "/e/v/bin/python",
                "-m",
                "pip",
                "install",
                "--no-input",
                "six"
            ]
        );
        // Provisioned: only the own uv's install.
        std::fs::create_dir_all(provision.dir.join("bin")).unwrap();
        std::fs::write(provision.uv(), "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(provision.uv(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let cmds = d.install_commands(None, Path::new("/e/v"), &pkgs);
        assert_eq!(cmds.len(), 1);
        assert_eq!(argv(&cmds[0]), own_install);
        let chosen = d
            .choose_install_installer(None, &CancelToken::new(), &crate::NoProgress)
            .unwrap();
        assert!(matches!(chosen, VenvInstaller::OwnUv { .. }), "{chosen:?}");
        // The user's uv comes first.
        let d = VenvDriver::new(Some("/bin/uv".into()), &host)
            .with_provision(Some(Box::new(provision)));
        let cmds = d.install_commands(None, Path::new("/e/v"), &pkgs);
        assert_eq!(cmds.len(), 1);
        assert_eq!(cmds[0].program(), Path::new("/bin/uv"));
    }

    #[test]
    fn refuses_non_empty_prefix_without_running_anything() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("keep.txt"), "x").unwrap();
        // A program that does not exist proves nothing ran: the refusal comes first.
        let d = VenvDriver::new(Some("/nonexistent/uv".into()), &host());
        let err = d
            .create(
                &VenvInstaller::Uv("/nonexistent/uv".into()),
                &PythonChoice::Path("/nonexistent/python".into()),
                t.path(),
                &PipInstall::default(),
                &CancelToken::new(),
                &process::NoObserver,
            )
            .unwrap_err();
        assert!(matches!(err, EnvError::EnvExists { .. }), "{err:?}");
        assert!(t.path().join("keep.txt").exists());
    }
}
