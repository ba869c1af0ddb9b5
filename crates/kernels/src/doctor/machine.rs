//! The facts `doctor` and `prune` work from, gathered once: the kernels Jupyter sees, the
//! environments on disk, the conda roots, and a cache of inspected prefixes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use envs::{EnvKind, Environment, HostEnv};
use kernelspec::{Discovery, FoundKernel, JupyterPaths};

use crate::wrappers::{locate, KnownEnv, Located, Locator};

/// What is on this machine, as far as kernels are concerned.
pub struct Machine<'a> {
    /// The Jupyter search path.
    pub paths: &'a JupyterPaths,
    /// The host environment snapshot (`PATH`, `HOME`, what kernels inherit).
    pub host: &'a HostEnv,
    /// Every kernelspec on the search path.
    pub discovery: Discovery,
    /// The environments found on disk (conda roots and envs, the venv home).
    pub envs: Vec<Environment>,
    /// Known conda roots.
    pub conda_roots: Vec<PathBuf>,
    known: Vec<KnownEnv>,
    inspected: RefCell<HashMap<PathBuf, Option<Environment>>>,
    activations: RefCell<HashMap<PathBuf, Result<envs::Activation, String>>>,
}

impl<'a> Machine<'a> {
    /// Scans the machine: discovery, conda tool location (no process is started) and the
    /// environment listing.
    pub fn gather(paths: &'a JupyterPaths, host: &'a HostEnv) -> Machine<'a> {
        let discovery = kernelspec::discover(paths);
        let tools = envs::locate(host, envs::BackendChoice::Auto);
        let envs = envs::list_envs(&tools, host, &[]);
        Machine::from_parts(paths, host, discovery, envs)
    }

    /// A machine from facts gathered elsewhere (tests, callers that already have them).
    pub fn from_parts(
        paths: &'a JupyterPaths,
        host: &'a HostEnv,
        discovery: Discovery,
        envs: Vec<Environment>,
    ) -> Machine<'a> {
        let conda_roots = envs
            .iter()
            .filter(|e| e.kind == EnvKind::CondaBase)
            .map(|e| e.prefix.to_path_buf())
            .collect();
        let known = envs
            .iter()
            .map(|e| KnownEnv {
                name: e.name.clone(),
                prefix: e.prefix.to_path_buf(),
            })
            .collect();
        Machine {
            paths,
            host,
            discovery,
            envs,
            conda_roots,
            known,
            inspected: RefCell::new(HashMap::new()),
            activations: RefCell::new(HashMap::new()),
        }
    }

    /// Where a kernel's argv really leads (`None` when its spec does not load).
    pub fn locate(&self, kernel: &FoundKernel) -> Option<Located> {
        let spec = kernel.spec.as_ref().ok()?;
        Some(locate(&spec.argv, &self.locator(&kernel.resource_dir)))
    }

    /// The [`Locator`] for a kernel in `resource_dir`.
    pub fn locator<'b>(&'b self, resource_dir: &'b Path) -> Locator<'b> {
        Locator {
            path: &self.host.path,
            home: self.host.home.as_deref(),
            envs: &self.known,
            conda_roots: &self.conda_roots,
            resource_dir: Some(resource_dir),
        }
    }

    /// The environment at `prefix` (from the listing, else inspected once and cached).
    pub fn inspect(&self, prefix: &Path) -> Option<Environment> {
        if let Some(e) = self.envs.iter().find(|e| e.prefix == *prefix) {
            return Some(e.clone());
        }
        self.inspected
            .borrow_mut()
            .entry(prefix.to_path_buf())
            .or_insert_with(|| Environment::inspect(prefix))
            .clone()
    }

    /// What activating `env` gives now (computed once per prefix; running its activate.d
    /// scripts costs a shell). The error is the failure's text.
    pub fn activation(&self, env: &Environment) -> Result<envs::Activation, String> {
        self.activations
            .borrow_mut()
            .entry(env.prefix.to_path_buf())
            .or_insert_with(|| envs::activate(env, self.host).map_err(|e| boot::error_chain(&e)))
            .clone()
    }

    /// The environments with this name.
    pub fn envs_named(&self, name: &str) -> Vec<&Environment> {
        self.envs
            .iter()
            .filter(|e| e.name.as_deref() == Some(name))
            .collect()
    }
}
