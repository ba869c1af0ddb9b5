//! The [`Backend`] trait and its implementations: conda-family, venv and (with the cargo
//! feature `rattler`) rattler.
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
use crate::prefix::Prefix;
use crate::process::{CancelToken, ProcessObserver, ToolCommand};
use crate::progress::{report_transaction, Event, LineForwarder, Progress, Step, ToolName};
use crate::vars::HostEnv;
use crate::venv::{self, PipInstall, PythonChoice, VenvDriver, VenvInstaller};

/// The one model of a backend: what the command line's `--backend`, kernels.toml's
/// `backend`, the plan and the executor name. Adding a backend is one variant here (with its
/// name and help in the two tables below) and one [`Backend`] impl in [`backend_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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
    /// conda environments made in-process by rattler (no conda needed; see
    /// `crate::rattler_backend`).
    Rattler,
}

impl BackendKind {
    /// Every backend, in the order the help lists them.
    pub const ALL: [BackendKind; 5] = [
        BackendKind::Conda,
        BackendKind::Mamba,
        BackendKind::Micromamba,
        BackendKind::Venv,
        BackendKind::Rattler,
    ];

    /// The backend that drives a conda-family flavour.
    pub fn from_flavor(f: CondaFlavor) -> BackendKind {
        match f {
            CondaFlavor::Conda => BackendKind::Conda,
            CondaFlavor::Mamba => BackendKind::Mamba,
            CondaFlavor::Micromamba => BackendKind::Micromamba,
        }
    }

    /// The conda-family flavour this backend drives (`None` for venv and rattler, which
    /// run no conda-family tool).
    pub fn flavor(self) -> Option<CondaFlavor> {
        match self {
            BackendKind::Conda => Some(CondaFlavor::Conda),
            BackendKind::Mamba => Some(CondaFlavor::Mamba),
            BackendKind::Micromamba => Some(CondaFlavor::Micromamba),
            BackendKind::Venv | BackendKind::Rattler => None,
        }
    }

    /// Whether this backend makes conda environments (`conda-meta`, registered in
    /// `~/.conda/environments.txt`): every backend but venv.
    pub fn is_conda(self) -> bool {
        self != BackendKind::Venv
    }

    /// The name on the command line, in kernels.toml and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Conda => "conda",
            BackendKind::Mamba => "mamba",
            BackendKind::Micromamba => "micromamba",
            BackendKind::Venv => "venv",
            BackendKind::Rattler => "rattler",
        }
    }

    /// What is missing when this backend cannot be used: its tool, or (rattler) the backend
    /// itself, which is compiled in only with the cargo feature `rattler`.
    pub fn missing_text(self) -> String {
        match self {
            BackendKind::Rattler => "the rattler backend is not built into this kernels".to_owned(),
            other => format!("no {other} executable was found"),
        }
    }

    /// One line for `--help` (no full stop: clap shows it as written).
    pub fn help(self) -> &'static str {
        match self {
            BackendKind::Conda => "conda",
            BackendKind::Mamba => "mamba",
            BackendKind::Micromamba => "micromamba",
            BackendKind::Venv => "`python -m venv` + pip, or uv when it is on PATH",
            BackendKind::Rattler => {
                "conda environments made by kernels itself (rattler), no conda needed"
            }
        }
    }
}

/// `Display` as the name the command line and kernels.toml take (`name()`).
macro_rules! display_as_name {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    )*};
}

display_as_name!(BackendKind, BackendChoice);

impl std::str::FromStr for BackendKind {
    type Err = UnknownBackend;

    fn from_str(s: &str) -> Result<BackendKind, UnknownBackend> {
        BackendKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownBackend(s.to_owned()))
    }
}

/// Which backend a request asks for: any that is found, or exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BackendChoice {
    /// A conda-family tool when one is found, else venv.
    #[default]
    Auto,
    /// This backend only.
    Only(BackendKind),
}

impl BackendChoice {
    /// Every choice: `auto`, then each backend.
    pub fn all() -> impl Iterator<Item = BackendChoice> {
        std::iter::once(BackendChoice::Auto).chain(BackendKind::ALL.map(BackendChoice::Only))
    }

    /// The name on the command line and in kernels.toml.
    pub fn name(self) -> &'static str {
        match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Only(k) => k.name(),
        }
    }

    /// One line for `--help` (no full stop: clap shows it as written).
    pub fn help(self) -> &'static str {
        match self {
            BackendChoice::Auto => "conda, mamba or micromamba when one is found, else venv",
            BackendChoice::Only(k) => k.help(),
        }
    }

    /// Whether an environment made by `kind` satisfies this choice.
    pub fn accepts(self, kind: BackendKind) -> bool {
        match self {
            BackendChoice::Auto => true,
            BackendChoice::Only(k) => k == kind,
        }
    }

    /// Whether a conda-family tool of `flavor` may be located for this choice. rattler runs
    /// none, but a conda found beside it says where environments go (its root's `envs`) and
    /// which `.condarc` of the root applies.
    pub fn accepts_flavor(self, flavor: CondaFlavor) -> bool {
        self == BackendChoice::Only(BackendKind::Rattler)
            || self.accepts(BackendKind::from_flavor(flavor))
    }
}

impl std::str::FromStr for BackendChoice {
    type Err = UnknownBackend;

    fn from_str(s: &str) -> Result<BackendChoice, UnknownBackend> {
        match s {
            "auto" => Ok(BackendChoice::Auto),
            _ => s.parse().map(BackendChoice::Only),
        }
    }
}

impl serde::Serialize for BackendChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for BackendChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<BackendChoice, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A backend name that is none of [`BackendChoice::all`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown backend `{0}`")]
pub struct UnknownBackend(pub String);

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateEnv {
    /// Target prefix (must not exist, or be an empty directory).
    pub prefix: Prefix,
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

impl CreateEnv {
    /// A Python environment at `prefix` with nothing but the kernel package: the start of
    /// every request.
    pub fn new(prefix: Prefix) -> CreateEnv {
        CreateEnv {
            prefix,
            python: None,
            conda_packages: Vec::new(),
            pip_packages: Vec::new(),
            requirements: None,
            environment_file: None,
            channels: Vec::new(),
            language: Language::default(),
            clone_from: None,
        }
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
    /// Installs packages into an existing environment: the conda packages from `channels`
    /// (on top of the configured ones; a venv has none), then the pip packages. Also the
    /// step after a create from an environment file, for the kernel package it left out.
    fn install(
        &self,
        env: &Environment,
        pkgs: &PackageSet,
        channels: &[String],
        cancel: &CancelToken,
        progress: &dyn Progress,
    ) -> Result<(), EnvError>;
    /// Deletes an environment.
    fn remove(&self, prefix: &Path, cancel: &CancelToken) -> Result<(), EnvError>;
    /// The commands `create` would run, for `--dry-run`.
    fn create_commands(&self, req: &CreateEnv) -> Vec<ToolCommand>;
    /// The packages of `pkgs` not installed in `env` (by name; no subprocess).
    fn missing(&self, env: &Environment, pkgs: &PackageSet) -> PackageSet;
    /// For `--dry-run` of a backend that runs no command for its solve: the packages
    /// `create` would link (`name=version=build`). Others show their commands instead.
    fn solved_packages(&self, _req: &CreateEnv) -> Result<Vec<String>, EnvError> {
        Ok(Vec::new())
    }
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
        #[cfg(feature = "rattler")]
        BackendKind::Rattler => Ok(Box::new(crate::rattler_backend::RattlerBackend::new(
            tools, host,
        ))),
        #[cfg(not(feature = "rattler"))]
        BackendKind::Rattler => Err(EnvError::ToolMissing { backend: kind }),
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

/// The conda specs of a create: `python[=VER] pip ipykernel` (R: `r-base r-irkernel`), then
/// the requested conda packages. An environment file alone brings its own specs.
pub(crate) fn conda_specs(req: &CreateEnv) -> Vec<String> {
    let mut specs = Vec::new();
    if req.environment_file.is_none() || !req.conda_packages.is_empty() || req.python.is_some() {
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
    specs
}

/// conda, mamba or micromamba.
#[derive(Debug, Clone)]
pub struct CondaBackend {
    driver: CondaDriver,
    host: HostEnv,
}

impl CondaBackend {
    /// The tool's name in progress events.
    fn tool_name(&self) -> ToolName {
        ToolName::from_flavor(self.driver.tool().flavor)
    }

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
        let specs = conda_specs(req);
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
        let obs = LineForwarder::stderr_only(progress);
        progress.event(&Event::Started(&Step::CreateEnv {
            prefix: prefix.clone(),
            tool: self.tool_name(),
        }));
        let created = match &req.clone_from {
            Some(source) => self
                .driver
                .clone_env(&prefix, source, cancel, &obs)
                .and_then(|t| {
                    report_transaction(progress, &t);
                    self.after_clone(&prefix, req, cancel, &obs)
                }),
            None => self
                .driver
                .create(&cr, cancel, &obs)
                .map(|t| report_transaction(progress, &t)),
        };
        let result = created.and_then(|_| {
            match self.pip_step(&prefix, &req.pip_packages, req.requirements.as_deref()) {
                Some(cmd) => {
                    progress.event(&Event::Started(&Step::InstallPackages {
                        prefix: prefix.clone(),
                        packages: req.pip_packages.clone(),
                        tool: ToolName::Pip,
                    }));
                    venv::run_step(&cmd, cancel, &LineForwarder::all(progress))
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
        Environment::made_conda(prefix)
    }

    fn install(
        &self,
        env: &Environment,
        pkgs: &PackageSet,
        channels: &[String],
        cancel: &CancelToken,
        progress: &dyn Progress,
    ) -> Result<(), EnvError> {
        // The conda step refuses a frozen environment itself, right after saying that it
        // starts; without one, the refusal is here, before pip runs.
        if pkgs.conda.is_empty() {
            conda::check_not_frozen(&env.prefix)?;
        } else {
            progress.event(&Event::Started(&Step::InstallPackages {
                prefix: env.prefix.to_path_buf(),
                packages: pkgs.conda.clone(),
                tool: self.tool_name(),
            }));
            let t = self.driver.install(
                &env.prefix,
                &pkgs.conda,
                channels,
                false,
                cancel,
                &LineForwarder::stderr_only(progress),
            )?;
            report_transaction(progress, &t);
        }
        if let Some(cmd) = self.pip_step(&env.prefix, &pkgs.pip, None) {
            progress.event(&Event::Started(&Step::InstallPackages {
                prefix: env.prefix.to_path_buf(),
                packages: pkgs.pip.clone(),
                tool: ToolName::Pip,
            }));
            venv::run_step(&cmd, cancel, &LineForwarder::all(progress))?;
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
        let obs = LineForwarder::all(progress);
        let installer = self.driver.choose_installer(&python, cancel, progress)?;
        progress.event(&Event::Started(&Step::CreateEnv {
            prefix: prefix.clone(),
            tool: match installer {
                VenvInstaller::Uv(_) => ToolName::Uv,
                VenvInstaller::OwnUv { .. } => ToolName::OwnUv,
                VenvInstaller::Pip => ToolName::Venv,
            },
        }));
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
        _channels: &[String],
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
        let conda_env = env.kind == EnvKind::Conda || env.kind == EnvKind::CondaBase;
        let started = |tool| {
            progress.event(&Event::Started(&Step::InstallPackages {
                prefix: env.prefix.to_path_buf(),
                packages: install.packages.clone(),
                tool,
            }))
        };
        if conda_env {
            // A conda env has its own pip; uv would also work, but pip keeps conda's
            // view of the env consistent with what users do by hand.
            started(ToolName::Pip);
            let cmd = venv::pip_install_command(&env.prefix, &install, &self.host);
            return venv::run_step(&cmd, cancel, &LineForwarder::all(progress));
        }
        let installer =
            self.driver
                .choose_install_installer(self.python.as_deref(), cancel, progress)?;
        started(match installer {
            venv::VenvInstaller::Pip => ToolName::Pip,
            _ => ToolName::Uv,
        });
        self.driver.install(
            &installer,
            &env.prefix,
            &install,
            cancel,
            &LineForwarder::all(progress),
        )
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

    #[test]
    fn every_choice_parses_from_its_name_and_nothing_else_does() {
        let names: Vec<&str> = BackendChoice::all().map(BackendChoice::name).collect();
        assert_eq!(
            names,
            ["auto", "conda", "mamba", "micromamba", "venv", "rattler"]
        );
        for c in BackendChoice::all() {
            assert_eq!(c.name().parse::<BackendChoice>(), Ok(c));
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<BackendChoice>(&json).unwrap(), c);
        }
        assert_eq!(
            "Conda".parse::<BackendChoice>(),
            Err(UnknownBackend("Conda".into()))
        );
        assert!("auto".parse::<BackendKind>().is_err());
        assert!(BackendChoice::Only(BackendKind::Mamba).accepts(BackendKind::Mamba));
        assert!(!BackendChoice::Only(BackendKind::Conda).accepts(BackendKind::Mamba));
        assert!(BackendChoice::Auto.accepts(BackendKind::Venv));
    }

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
            python: Some("3.11".into()),
            conda_packages: vec!["pytorch".into(), "numpy".into()],
            pip_packages: vec!["wandb".into()],
            ..CreateEnv::new(Prefix::absolute("/e/torch"))
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
            language: Language::R,
            ..CreateEnv::new(Prefix::absolute("/e/r"))
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
            language: Language::R,
            ..CreateEnv::new(Prefix::absolute("/e/r"))
        };
        let err = b
            .create(&r, &CancelToken::new(), &crate::NoProgress)
            .unwrap_err();
        assert!(
            matches!(err, EnvError::UnsupportedLanguage { .. }),
            "{err:?}"
        );
    }
}
