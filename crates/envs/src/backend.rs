//! The [`Backend`] trait and its two implementations: conda-family and venv.
//!
//! * conda/mamba/micromamba, Python: **one** `create` with
//!   `python[=VER] pip ipykernel <conda packages>`, then **one** pip call
//!   (`<prefix>/bin/python -m pip install …`) for pip-only packages and `-r` files.
//!   R: `r-base r-irkernel <conda packages>`.
//! * venv: see [`crate::venv`] (the user's uv, else kernels' own uv, else pip); `ipykernel`
//!   is added to the pip packages, and the
//!   `conda` list is installed from PyPI too (most names coincide; there is no conda).
//!
//! `create` is all-or-nothing for the prefix: it refuses an existing non-empty prefix,
//! and when a later step fails it deletes the prefix it created.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::conda::{self, CondaCreate, CondaDriver};
use crate::discover::{EnvKind, Environment};
use crate::error::EnvError;
use crate::locate::{CondaFlavor, Tools};
use crate::packages::{self, PackageSet};
use crate::process::{CancelToken, ProcessObserver, ToolCommand};
use crate::vars::HostEnv;
use crate::venv::{self, PipInstall, PythonChoice, VenvDriver, VenvInstaller};

/// The kinds of backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// conda.
    Conda,
    /// mamba.
    Mamba,
    /// micromamba.
    Micromamba,
    /// `python -m venv` / uv.
    Venv,
}

impl BackendKind {
    /// The backend that drives a conda-family flavour.
    pub fn from_flavor(f: CondaFlavor) -> BackendKind {
        match f {
            CondaFlavor::Conda => BackendKind::Conda,
            CondaFlavor::Mamba => BackendKind::Mamba,
            CondaFlavor::Micromamba => BackendKind::Micromamba,
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Conda => "conda",
            BackendKind::Mamba => "mamba",
            BackendKind::Micromamba => "micromamba",
            BackendKind::Venv => "venv",
        })
    }
}

/// The kernel language of an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Python with ipykernel.
    #[default]
    Python,
    /// R with IRkernel.
    R,
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Language::Python => "Python",
            Language::R => "R",
        })
    }
}

/// A request to create an environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateEnv {
    /// Target prefix (must not exist, or be an empty directory).
    pub prefix: PathBuf,
    /// Python version request (`3.11`); `None` for the default.
    pub python: Option<String>,
    /// conda packages (installed in the same solve as Python).
    pub conda_packages: Vec<String>,
    /// pip packages (installed in one pip call afterwards).
    pub pip_packages: Vec<String>,
    /// A pip requirements file.
    pub requirements: Option<PathBuf>,
    /// A conda environment file (conda backends only).
    pub environment_file: Option<PathBuf>,
    /// conda channels.
    pub channels: Vec<String>,
    /// Kernel language.
    pub language: Language,
    /// conda family: copy the conda environment at this prefix (`create --clone`) instead
    /// of solving; `conda_packages` then go in one `install` after it.
    pub clone_from: Option<PathBuf>,
}

/// Receives progress from a backend operation.
pub trait Progress {
    /// A step begins ("Creating environment …").
    fn step(&self, msg: &str);
    /// One line of a tool's stderr.
    fn line(&self, tool_line: &str) {
        let _ = tool_line;
    }
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn step(&self, _msg: &str) {}
}

/// Adapts a [`Progress`] to the process runner's observer.
struct LineForwarder<'a>(&'a dyn Progress);

impl ProcessObserver for LineForwarder<'_> {
    fn stderr_line(&self, line: &str) {
        self.0.line(line);
    }
}

/// An environment manager.
pub trait Backend {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;
    /// Creates the environment described by `req` and returns it as found on disk.
    fn create(
        &self,
        req: &CreateEnv,
        cancel: &CancelToken,
        progress: &dyn Progress,
    ) -> Result<Environment, EnvError>;
    /// Installs packages into an existing environment.
    fn install(
        &self,
        env: &Environment,
        pkgs: &PackageSet,
        cancel: &CancelToken,
        progress: &dyn Progress,
    ) -> Result<(), EnvError>;
    /// Deletes an environment.
    fn remove(&self, prefix: &Path, cancel: &CancelToken) -> Result<(), EnvError>;
    /// The commands `create` would run, for `--dry-run`.
    fn create_commands(&self, req: &CreateEnv) -> Vec<ToolCommand>;
    /// The packages of `pkgs` not installed in `env` (by name; no subprocess).
    fn missing(&self, env: &Environment, pkgs: &PackageSet) -> PackageSet;
}

/// The backend of `kind`, using the located `tools`.
pub fn backend_for(
    kind: BackendKind,
    tools: &Tools,
    host: &HostEnv,
) -> Result<Box<dyn Backend>, EnvError> {
    match kind {
        BackendKind::Venv => Ok(Box::new(VenvBackend {
            driver: VenvDriver::new(tools.uv.clone(), host)
                .with_provision(tools.uv_provision.clone()),
            python: tools.python.clone(),
            host: host.clone(),
        })),
        _ => {
            let tool = tools
                .conda
                .clone()
                .filter(|t| BackendKind::from_flavor(t.flavor) == kind)
                .ok_or(EnvError::ToolMissing { backend: kind })?;
            Ok(Box::new(CondaBackend {
                driver: CondaDriver::new(tool, host),
                host: host.clone(),
            }))
        }
    }
}

/// conda, mamba or micromamba.
#[derive(Debug, Clone)]
pub struct CondaBackend {
    driver: CondaDriver,
    host: HostEnv,
}

impl CondaBackend {
    /// A backend around a driver.
    pub fn new(driver: CondaDriver, host: &HostEnv) -> CondaBackend {
        CondaBackend {
            driver,
            host: host.clone(),
        }
    }

    /// The driver.
    pub fn driver(&self) -> &CondaDriver {
        &self.driver
    }

    fn create_request(&self, req: &CreateEnv) -> CondaCreate {
        let mut specs = Vec::new();
        if req.environment_file.is_none() || !req.conda_packages.is_empty() || req.python.is_some()
        {
            match req.language {
                Language::Python => {
                    specs.push(match &req.python {
                        Some(v) => format!("python={v}"),
                        None => "python".to_owned(),
                    });
                    specs.push("pip".to_owned());
                    specs.push("ipykernel".to_owned());
                }
                Language::R => {
                    specs.push("r-base".to_owned());
                    specs.push("r-irkernel".to_owned());
                }
            }
        }
        for p in &req.conda_packages {
            if !specs.contains(p) {
                specs.push(p.clone());
            }
        }
        CondaCreate {
            prefix: conda::absolute(&req.prefix),
            specs,
            channels: req.channels.clone(),
            override_channels: false,
            file: req.environment_file.clone(),
        }
    }

    /// After `create --clone`: the extra conda packages (ipykernel when the source lacks
    /// it, the user's packages) in one `install`.
    fn after_clone(
        &self,
        prefix: &Path,
        req: &CreateEnv,
        cancel: &CancelToken,
        obs: &dyn ProcessObserver,
    ) -> Result<(), EnvError> {
        if req.conda_packages.is_empty() {
            return Ok(());
        }
        self.driver
            .install(
                prefix,
                &req.conda_packages,
                &req.channels,
                false,
                cancel,
                obs,
            )
            .map(|_| ())
    }

    fn pip_step(
        &self,
        prefix: &Path,
        pip: &[String],
        requirements: Option<&Path>,
    ) -> Option<ToolCommand> {
        let pkgs = PipInstall {
            packages: pip.to_vec(),
            requirements: requirements.map(Path::to_path_buf),
        };
        (!pkgs.is_empty()).then(|| venv::pip_install_command(prefix, &pkgs, &self.host))
    }
}

impl Backend for CondaBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::from_flavor(self.driver.tool().flavor)
    }

    fn create(
        &self,
        req: &CreateEnv,
        cancel: &CancelToken,
        progress: &dyn Progress,
    ) -> Result<Environment, EnvError> {
        let cr = self.create_request(req);
        let prefix = cr.prefix.clone();
        conda::check_create_target(&prefix)?;
        let existed = prefix.exists();
        let obs = LineForwarder(progress);
        progress.step(&format!(
            "Creating environment {} with {}",
            prefix.display(),
            self.kind()
        ));
        let created = match &req.clone_from {
            Some(source) => self
                .driver
                .clone_env(&prefix, source, cancel, &obs)
                .and_then(|_| self.after_clone(&prefix, req, cancel, &obs)),
            None => self.driver.create(&cr, cancel, &obs).map(|_| ()),
        };
        let result = created.and_then(|_| {
            match self.pip_step(&prefix, &req.pip_packages, req.requirements.as_deref()) {
                Some(cmd) => {
                    progress.step("Installing pip packages");
                    venv::run_step(&cmd, cancel, &obs)
                }
                None => Ok(()),
            }
        });
        if let Err(e) = result {
            if !existed && prefix.exists() {
                let _ = std::fs::remove_dir_all(&prefix);
            }
            return Err(e);
        }
        Environment::inspect(&prefix).ok_or(EnvError::NotAnEnvironment {
            prefix,
            expected: "conda",
        })
    }

    fn install(
        &self,
        env: &Environment,
        pkgs: &PackageSet,
        cancel: &CancelToken,
        progress: &dyn Progress,
    ) -> Result<(), EnvError> {
        conda::check_not_frozen(&env.prefix)?;
        let obs = LineForwarder(progress);
        if !pkgs.conda.is_empty() {
            progress.step(&format!(
                "Installing {} into {}",
                pkgs.conda.join(" "),
                env.prefix.display()
            ));
            self.driver
                .install(&env.prefix, &pkgs.conda, &[], false, cancel, &obs)?;
        }
        if let Some(cmd) = self.pip_step(&env.prefix, &pkgs.pip, None) {
            progress.step(&format!("Installing {} with pip", pkgs.pip.join(" ")));
            venv::run_step(&cmd, cancel, &obs)?;
        }
        Ok(())
    }

    fn remove(&self, prefix: &Path, cancel: &CancelToken) -> Result<(), EnvError> {
        self.driver
            .remove_env(prefix, cancel, &crate::process::NoObserver)?;
        Ok(())
    }

    fn create_commands(&self, req: &CreateEnv) -> Vec<ToolCommand> {
        let cr = self.create_request(req);
        let mut cmds = match &req.clone_from {
            Some(source) => {
                let mut c = vec![self.driver.clone_command(&cr.prefix, source)];
                if !req.conda_packages.is_empty() {
                    c.push(self.driver.install_command(
                        &cr.prefix,
                        &req.conda_packages,
                        &req.channels,
                        false,
                    ));
                }
                c
            }
            None => vec![self.driver.create_command(&cr)],
        };
        cmds.extend(self.pip_step(&cr.prefix, &req.pip_packages, req.requirements.as_deref()));
        cmds
    }

    fn missing(&self, env: &Environment, pkgs: &PackageSet) -> PackageSet {
        PackageSet {
            conda: packages::missing_conda(&env.prefix, &pkgs.conda),
            pip: packages::missing_pip(&env.prefix, &pkgs.pip),
        }
    }
}

/// `python -m venv` / uv with pip.
#[derive(Debug, Clone)]
pub struct VenvBackend {
    driver: VenvDriver,
    python: Option<PathBuf>,
    host: HostEnv,
}

impl VenvBackend {
    /// The interpreter to build from: a path request as is; `3.11` → `python3.11` on
    /// `PATH`, else (uv only) the request itself; no request → the located Python.
    pub fn resolve_python(&self, request: Option<&str>) -> Result<PythonChoice, EnvError> {
        match request {
            None => self
                .python
                .clone()
                .map(PythonChoice::Path)
                .ok_or(EnvError::ToolMissing {
                    backend: BackendKind::Venv,
                }),
            Some(r) if r.contains('/') => Ok(PythonChoice::Path(PathBuf::from(r))),
            Some(r) => {
                let name = if r.starts_with("python") {
                    r.to_owned()
                } else {
                    format!("python{r}")
                };
                if let Some(p) = crate::process::find_on_path(&name, &self.host.path) {
                    Ok(PythonChoice::Path(p))
                } else if self.driver.uses_uv() {
                    Ok(PythonChoice::Request(r.to_owned()))
                } else {
                    Err(EnvError::PythonNotFound {
                        request: format!("{r} ({name} on PATH)"),
                    })
                }
            }
        }
    }

    fn pip_install(req: &CreateEnv) -> PipInstall {
        let mut packages = vec!["ipykernel".to_owned()];
        for p in req.conda_packages.iter().chain(&req.pip_packages) {
            if !packages.contains(p) {
                packages.push(p.clone());
            }
        }
        PipInstall {
            packages,
            requirements: req.requirements.clone(),
        }
    }

    fn check_language(req: &CreateEnv) -> Result<(), EnvError> {
        match req.language {
            Language::Python if req.environment_file.is_none() => Ok(()),
            Language::Python => Err(EnvError::UnsupportedLanguage {
                backend: BackendKind::Venv,
                language: "environment-file".to_owned(),
            }),
            Language::R => Err(EnvError::UnsupportedLanguage {
                backend: BackendKind::Venv,
                language: Language::R.to_string(),
            }),
        }
    }
}

impl Backend for VenvBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Venv
    }

    fn create(
        &self,
        req: &CreateEnv,
        cancel: &CancelToken,
        progress: &dyn Progress,
    ) -> Result<Environment, EnvError> {
        Self::check_language(req)?;
        let python = self.resolve_python(req.python.as_deref())?;
        let prefix = conda::absolute(&req.prefix);
        // Refuse an occupied target before anything is provisioned.
        conda::check_create_target(&prefix)?;
        let obs = LineForwarder(progress);
        let installer = self
            .driver
            .choose_installer(&python, cancel, &obs, &|m: &str| progress.step(m))?;
        progress.step(&format!(
            "Creating virtual environment {}{}",
            prefix.display(),
            match installer {
                VenvInstaller::Uv(_) => " with uv",
                VenvInstaller::OwnUv { .. } => " (packages with kernels' own uv)",
                VenvInstaller::Pip => "",
            }
        ));
        self.driver.create(
            &installer,
            &python,
            &prefix,
            &Self::pip_install(req),
            cancel,
            &obs,
        )?;
        Environment::inspect(&prefix).ok_or(EnvError::NotAnEnvironment {
            prefix,
            expected: "Python",
        })
    }

    fn install(
        &self,
        env: &Environment,
        pkgs: &PackageSet,
        cancel: &CancelToken,
        progress: &dyn Progress,
    ) -> Result<(), EnvError> {
        let mut packages = pkgs.pip.clone();
        for p in &pkgs.conda {
            if !packages.contains(p) {
                packages.push(p.clone());
            }
        }
        let install = PipInstall {
            packages,
            requirements: None,
        };
        if install.is_empty() {
            return Ok(());
        }
        progress.step(&format!(
            "Installing {} into {}",
            install.packages.join(" "),
            env.prefix.display()
        ));
        if env.kind == EnvKind::Conda || env.kind == EnvKind::CondaBase {
            // A conda env has its own pip; uv would also work, but pip keeps conda's
            // view of the env consistent with what users do by hand.
            let cmd = venv::pip_install_command(&env.prefix, &install, &self.host);
            return venv::run_step(&cmd, cancel, &LineForwarder(progress));
        }
        let obs = LineForwarder(progress);
        let installer = self.driver.choose_install_installer(
            self.python.as_deref(),
            cancel,
            &obs,
            &|m: &str| progress.step(m),
        )?;
        self.driver
            .install(&installer, &env.prefix, &install, cancel, &obs)
    }

    fn remove(&self, prefix: &Path, _cancel: &CancelToken) -> Result<(), EnvError> {
        if !prefix.join("pyvenv.cfg").is_file() {
            return Err(EnvError::NotAnEnvironment {
                prefix: prefix.to_path_buf(),
                expected: "Python virtual",
            });
        }
        venv::remove_prefix(prefix)
    }

    fn create_commands(&self, req: &CreateEnv) -> Vec<ToolCommand> {
        let python = self
            .resolve_python(req.python.as_deref())
            .unwrap_or_else(|_| {
                PythonChoice::Path(PathBuf::from(
                    req.python.clone().unwrap_or_else(|| "python3".into()),
                ))
            });
        self.driver
            .create_commands(&python, &req.prefix, &Self::pip_install(req))
    }

    fn missing(&self, env: &Environment, pkgs: &PackageSet) -> PackageSet {
        let mut all = pkgs.pip.clone();
        all.extend(pkgs.conda.iter().cloned());
        PackageSet {
            conda: Vec::new(),
            pip: packages::missing_pip(&env.prefix, &all),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locate::CondaTool;

    fn tools(flavor: Option<CondaFlavor>) -> Tools {
        Tools {
            conda: flavor.map(|flavor| CondaTool {
                exe: "/opt/conda/bin/conda".into(),
                flavor,
                root: "/opt/conda".into(),
            }),
            python: Some("/usr/bin/python3".into()),
            uv: None,
            uv_provision: None,
        }
    }

    #[test]
    fn missing_tool_is_typed_with_hint() {
        let host = HostEnv::default();
        let err = backend_for(BackendKind::Mamba, &tools(Some(CondaFlavor::Conda)), &host)
            .err()
            .unwrap();
        assert!(matches!(
            err,
            EnvError::ToolMissing {
                backend: BackendKind::Mamba
            }
        ));
        assert!(err.hint().unwrap().contains("--backend venv"));
    }

    #[test]
    fn conda_python_create_is_one_solve_plus_one_pip_call() {
        let host = HostEnv::from_vars([("PATH", "/usr/bin")]);
        let b = backend_for(BackendKind::Conda, &tools(Some(CondaFlavor::Conda)), &host).unwrap();
        let req = CreateEnv {
            prefix: "/e/torch".into(),
            python: Some("3.11".into()),
            conda_packages: vec!["pytorch".into(), "numpy".into()],
            pip_packages: vec!["wandb".into()],
            ..CreateEnv::default()
        };
        let cmds = b.create_commands(&req);
        assert_eq!(cmds.len(), 2);
        assert_eq!(
            cmds[0].args_lossy(),
            [
                "create",
                "-p",
                "/e/torch",
                "--json",
                "--yes",
                "python=3.11",
                "pip",
                "ipykernel",
                "pytorch",
                "numpy"
            ]
        );
        assert_eq!(cmds[1].program(), Path::new("/e/torch/bin/python"));
        assert_eq!(
            cmds[1].args_lossy(),
            ["-m", "pip", "install", "--no-input", "wandb"]
        );

        let r = CreateEnv {
            prefix: "/e/r".into(),
            language: Language::R,
            ..CreateEnv::default()
        };
        assert_eq!(
            b.create_commands(&r)[0].args_lossy(),
            [
                "create",
                "-p",
                "/e/r",
                "--json",
                "--yes",
                "r-base",
                "r-irkernel"
            ]
        );
    }

    #[test]
    fn venv_rejects_r() {
        let host = HostEnv::default();
        let b = backend_for(BackendKind::Venv, &tools(None), &host).unwrap();
        let r = CreateEnv {
            prefix: "/e/r".into(),
            language: Language::R,
            ..CreateEnv::default()
        };
        let err = b.create(&r, &CancelToken::new(), &NoProgress).unwrap_err();
        assert!(
            matches!(err, EnvError::UnsupportedLanguage { .. }),
            "{err:?}"
        );
    }
}
