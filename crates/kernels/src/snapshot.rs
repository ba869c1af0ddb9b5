//! Read-only facts about the machine that a plan is made from.
//!
//! [`Snapshot::take`] reads, once: the Jupyter search path and every kernelspec on it, the
//! protection policy, the tools (conda family, Python, uv) and, for each request, the target
//! environment prefix, what is at that prefix ([`PrefixState`], [`EnvFacts`]) and the
//! kernelspec already in the target kernels directory. It starts no installer and no Python:
//! installed packages are read from `conda-meta/` and `*.dist-info`. The only process it may
//! start is `bash`, to evaluate an environment's `etc/conda/activate.d/*.sh` scripts (see
//! [`envs::activate`]); environments without such scripts cost no process at all.
//!
//! The executor reads [`EnvFacts`] again after it changed an environment, so the kernelspec it
//! writes describes the environment as it is then.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use envs::{Activation, BackendKind, EnvKind, Environment, HostEnv, Prefix, Tools};
use kernelspec::{Discovery, JupyterPaths, KernelSpec};

use crate::clone::CloneSource;
use crate::policy::{Policy, PolicyPaths};
use crate::request::{BackendChoice, EnvSource, KernelRequest, KernelScope};
use crate::spec_for_env::{BackendLabel, ManagedMeta};

/// Prefixes that are the operating system's, not environments: they are registered as they
/// are, never activated (no `PATH` or other variables are baked for them).
const SYSTEM_PREFIXES: &[&str] = &["/", "/usr", "/usr/local"];

/// Everything a plan is made from.
#[derive(Debug)]
pub struct Snapshot {
    /// The host environment snapshot every tool starts from.
    pub host: HostEnv,
    /// The Jupyter search path.
    pub paths: JupyterPaths,
    /// Every kernelspec on it.
    pub discovery: Discovery,
    /// The protection policy.
    pub policy: Policy,
    /// Facts per request, in request order.
    pub targets: Vec<TargetFacts>,
}

impl Snapshot {
    /// Reads the machine for `requests` (see the module docs).
    pub fn take(requests: &[KernelRequest], host: HostEnv, paths: JupyterPaths) -> Snapshot {
        let policy = Policy::load(&PolicyPaths::from_host(&host));
        Snapshot::take_with_policy(requests, host, paths, policy)
    }

    /// Like [`Snapshot::take`] with an explicit policy (tests, callers that loaded it).
    pub fn take_with_policy(
        requests: &[KernelRequest],
        host: HostEnv,
        paths: JupyterPaths,
        policy: Policy,
    ) -> Snapshot {
        let discovery = kernelspec::discover(&paths);
        let targets = requests
            .iter()
            .map(|r| TargetFacts::read(r, &host, &paths, &discovery))
            .collect();
        Snapshot {
            host,
            paths,
            discovery,
            policy,
            targets,
        }
    }
}

/// What is at an environment prefix.
#[derive(Debug, Clone, PartialEq)]
pub enum PrefixState {
    /// Nothing.
    Absent,
    /// An empty directory (a new environment may be created in it).
    EmptyDir,
    /// Something that is not an environment (a file, or a non-empty directory without
    /// `conda-meta/history`, `pyvenv.cfg`, `bin/python` or R).
    NotAnEnv,
    /// An environment.
    Env(Box<EnvFacts>),
    /// An environment a `kernels` run is making, or was making when it was killed: its
    /// guard says "installing" ([`crate::guard`]). Never adopted, registered or installed
    /// into.
    HalfMade {
        /// The run making it is still alive (another run, e.g. another user's, is busy).
        building: bool,
        /// This user's records say this user's `kernels` created it, so it may be deleted
        /// and made again ([`crate::ownership::check_deletable`]).
        ours: bool,
    },
}

impl PrefixState {
    /// The environment's facts, when there is one.
    pub fn env(&self) -> Option<&EnvFacts> {
        match self {
            PrefixState::Env(f) => Some(f),
            _ => None,
        }
    }
}

/// A package found installed: its version and, for ipykernel, its resources directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPackage {
    /// The version, when known.
    pub version: Option<String>,
    /// `<site-packages>/ipykernel/resources` (the logos), when present.
    pub resources: Option<PathBuf>,
}

/// R in a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RFacts {
    /// `<R home>/bin/R`: `<prefix>/lib/R/bin/R` (conda, Debian's `/usr`), else `<prefix>/bin/R`.
    pub r_exe: PathBuf,
    /// IRkernel's `kernelspec/` directory in one of the prefix's R libraries, when installed.
    pub irkernel_spec_dir: Option<PathBuf>,
}

/// Facts about one environment, read from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvFacts {
    /// What [`envs`] sees.
    pub env: Environment,
    /// CPython (not PyPy or another implementation).
    pub cpython: bool,
    /// The Python version (from conda-meta, `pyvenv.cfg`, or the `lib/pythonX.Y` directory).
    pub python_version: Option<String>,
    /// ipykernel, when installed.
    pub ipykernel: Option<InstalledPackage>,
    /// Names of the installed conda packages (lower case).
    pub conda_names: BTreeSet<String>,
    /// Names of the installed Python distributions (PEP 503 normalised).
    pub pip_names: BTreeSet<String>,
    /// The activation to bake (`Ok(None)` for a system prefix such as `/usr`), or why the
    /// activate.d scripts failed.
    pub activation: Result<Option<Activation>, String>,
    /// R, when the prefix has it.
    pub r: Option<RFacts>,
    /// The interpreter is marked `EXTERNALLY-MANAGED` (PEP 668) and the prefix is no venv.
    pub externally_managed: bool,
    /// `kernels` created this environment, as its marker and the user's records say
    /// ([`crate::ownership::created_here`]), and how; `None` for environments made by anything
    /// else, copies of ours and environments re-made at a path ours had.
    pub created_by_kernels: Option<BackendLabel>,
}

impl EnvFacts {
    /// Reads `prefix`; `None` when it is not an environment (and has no R either).
    pub fn read(prefix: &Path, host: &HostEnv) -> Option<EnvFacts> {
        let r = r_facts(prefix);
        let env = Environment::inspect(prefix).or_else(|| {
            r.as_ref().map(|_| Environment {
                name: None,
                prefix: envs::Prefix::from_recorded(prefix),
                kind: EnvKind::Unknown,
                python: Some(prefix.join("bin/python")).filter(|p| p.exists()),
                python_version: None,
                has_ipykernel: false,
                frozen: envs::read_frozen(prefix),
            })
        })?;
        let pip: BTreeMap<String, String> = envs::installed_packages(prefix).into_iter().collect();
        let conda: BTreeMap<String, String> = envs::conda_packages(prefix)
            .into_iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v))
            .collect();
        let site_packages = envs::site_packages_dirs(prefix);
        let ipykernel = pip
            .get("ipykernel")
            .or_else(|| conda.get("ipykernel"))
            .map(|v| Some(v.clone()))
            .or_else(|| env.has_ipykernel.then_some(None))
            .map(|version| InstalledPackage {
                version,
                resources: site_packages
                    .iter()
                    .map(|sp| sp.join("ipykernel/resources"))
                    .find(|d| d.is_dir()),
            });
        let python_version = env
            .python_version
            .clone()
            .or_else(|| lib_python_version(prefix));
        let cpython = is_cpython(prefix, &conda);
        let activation = if is_system_prefix(prefix) {
            Ok(None)
        } else {
            envs::activate(&env, host)
                .map(Some)
                .map_err(|e| boot::error_chain(&e))
        };
        let externally_managed = env.kind != EnvKind::Venv
            && lib_python_dirs(prefix)
                .iter()
                .any(|d| envs::is_externally_managed(d));
        Some(EnvFacts {
            env,
            cpython,
            python_version,
            ipykernel,
            conda_names: conda.into_keys().collect(),
            pip_names: pip.into_keys().collect(),
            activation,
            r,
            externally_managed,
            created_by_kernels: crate::ownership::created_here(host, prefix).ok(),
        })
    }

    /// Whether this is a conda environment (so conda packages can be installed into it).
    pub fn is_conda(&self) -> bool {
        matches!(self.env.kind, EnvKind::Conda | EnvKind::CondaBase)
    }
}

/// `/usr`, `/usr/local` and `/` are registered as they are, never activated.
pub fn is_system_prefix(prefix: &Path) -> bool {
    SYSTEM_PREFIXES.iter().any(|p| prefix == Path::new(p))
}

fn lib_python_dirs(prefix: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(prefix.join("lib")) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("python3"))
        })
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

/// `lib/python3.11` → `3.11` (the highest, when there are several).
fn lib_python_version(prefix: &Path) -> Option<String> {
    lib_python_dirs(prefix)
        .iter()
        .filter_map(|d| {
            d.file_name()?
                .to_str()?
                .strip_prefix("python")
                .map(str::to_owned)
        })
        .filter(|v| v.contains('.'))
        .max_by_key(|v| crate::spec_for_env::major_minor(v))
}

fn is_cpython(prefix: &Path, conda: &BTreeMap<String, String>) -> bool {
    if conda.contains_key("pypy") || conda.contains_key("pypy3") {
        return false;
    }
    if let Some(imp) = envs::pyvenv_cfg_value(prefix, "implementation") {
        return imp.eq_ignore_ascii_case("cpython");
    }
    let pypy_lib = std::fs::read_dir(prefix.join("lib"))
        .map(|rd| {
            rd.flatten().any(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with("pypy"))
            })
        })
        .unwrap_or(false);
    !pypy_lib
}

fn r_facts(prefix: &Path) -> Option<RFacts> {
    let r_exe = [prefix.join("lib/R/bin/R"), prefix.join("bin/R")]
        .into_iter()
        .find(|p| p.is_file())?;
    let libraries = [
        "lib/R/library",
        "lib/R/site-library",
        "local/lib/R/site-library",
        "lib/R/site-library",
    ];
    let irkernel_spec_dir = libraries
        .iter()
        .map(|l| prefix.join(l).join("IRkernel/kernelspec"))
        .find(|d| d.is_dir());
    Some(RFacts {
        r_exe,
        irkernel_spec_dir,
    })
}

/// A kernelspec found in the target kernels directory.
#[derive(Debug, Clone, PartialEq)]
pub struct ExistingKernel {
    /// Its directory (`<kernels dir>/<name>`).
    pub dir: PathBuf,
    /// Its parsed kernel.json, or why it does not load.
    pub spec: Result<KernelSpec, String>,
}

impl ExistingKernel {
    /// Our metadata, when `kernels` wrote it.
    pub fn managed(&self) -> Option<ManagedMeta> {
        self.spec.as_ref().ok().and_then(ManagedMeta::from_spec)
    }
}

/// Which backend would create a new environment, or which tool is missing for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateWith {
    /// This backend is available.
    Backend(BackendKind),
    /// The backend that was asked for (or `venv` for `auto` on a machine without conda or
    /// Python) is not installed.
    Missing(BackendKind),
}

/// The facts for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetFacts {
    /// The tools found for this request's backend choice.
    pub tools: Tools,
    /// Which backend would create the environment.
    pub create_with: CreateWith,
    /// The environment's absolute prefix.
    pub prefix: Prefix,
    /// The managed kernel whose recorded environment was chosen as the prefix (a re-run of
    /// `kernels add NAME` finds the environment the first run made, wherever it is).
    pub reused_from: Option<ManagedMeta>,
    /// What is at the prefix.
    pub state: PrefixState,
    /// The kernels directory the spec goes to.
    pub kernels_dir: PathBuf,
    /// The kernelspec of that name already there.
    pub existing_kernel: Option<ExistingKernel>,
    /// `--clone`: the source environment, or why it is none.
    pub clone: Option<Result<CloneSource, String>>,
    /// `--existing NAME` that is no path and names no conda environment: the name and the
    /// closest conda environment names (for "did you mean").
    pub unknown_env_name: Option<(String, Vec<String>)>,
}

impl TargetFacts {
    /// Reads the facts for `req`.
    pub fn read(
        req: &KernelRequest,
        host: &HostEnv,
        paths: &JupyterPaths,
        discovery: &Discovery,
    ) -> TargetFacts {
        let clone = req
            .clone
            .as_deref()
            .map(|given| CloneSource::resolve(given, host, discovery));
        let choice = match &req.env {
            // A venv is copied into a venv, whatever tools the machine has.
            EnvSource::New {
                backend: BackendChoice::Auto,
                ..
            } if matches!(&clone, Some(Ok(src)) if !src.conda) => {
                BackendChoice::Only(BackendKind::Venv)
            }
            EnvSource::New { backend, .. } => *backend,
            EnvSource::Existing { .. } => BackendChoice::Auto,
        };
        // A repair (the kernel is ours, its environment was deleted) re-makes the environment
        // where it was and with the backend that made it, unless the request says otherwise.
        let repair = match &req.env {
            EnvSource::New {
                backend: BackendChoice::Auto,
                prefix: None,
            } if clone.is_none() => lost_env(req, discovery),
            _ => None,
        };
        let choice = match repair.as_ref().and_then(|m| m.backend.kind()) {
            Some(kind) => BackendChoice::Only(kind),
            None => choice,
        };
        let mut tools = envs::locate(host, choice);
        if !req.provision_uv {
            tools = tools.without_provision();
        }
        let create_with = create_with(choice, &tools);
        let mut reused_from = None;
        let mut unknown_env_name = None;
        let prefix = match &req.env {
            EnvSource::Existing { path } => match existing_by_name(path, host) {
                Some(Ok(prefix)) => prefix,
                Some(Err(close)) => {
                    unknown_env_name = Some((path.display().to_string(), close));
                    Prefix::absolute(path)
                }
                None => Prefix::absolute(path),
            },
            EnvSource::New {
                prefix: Some(p), ..
            } => Prefix::absolute(p),
            EnvSource::New { prefix: None, .. } => {
                match reusable_env(req, discovery, choice).or(repair) {
                    Some(meta) => {
                        let p = Prefix::from_recorded(&meta.env);
                        reused_from = Some(meta);
                        p
                    }
                    None => default_prefix(req, host, &tools, create_with),
                }
            }
        };
        let state = prefix_state(&prefix, host);
        let kernels_dir = match &req.scope {
            KernelScope::User => paths.user_kernel_dir(),
            KernelScope::SysPrefix => JupyterPaths::prefix_kernel_dir(&prefix),
            KernelScope::Prefix(dir) => JupyterPaths::prefix_kernel_dir(&envs::absolute(dir)),
            KernelScope::KernelsDir(dir) => envs::absolute(dir),
        };
        let dir = kernels_dir.join(req.name.as_str());
        let existing_kernel = dir.join("kernel.json").is_file().then(|| ExistingKernel {
            spec: KernelSpec::load(&dir.join("kernel.json")).map_err(|e| boot::error_chain(&e)),
            dir,
        });
        TargetFacts {
            tools,
            create_with,
            prefix,
            reused_from,
            state,
            kernels_dir,
            existing_kernel,
            clone,
            unknown_env_name,
        }
    }
}

/// `--existing NAME`: a bare name (no `/`, not `.`/`~`-relative) that is no directory here is
/// looked up among the conda environments of the roots kernels knows. `None` for a path;
/// `Err` with the closest names when no environment has that name.
fn existing_by_name(given: &Path, host: &HostEnv) -> Option<Result<Prefix, Vec<String>>> {
    let name = given.to_str()?;
    let bare = !name.contains('/') && !name.starts_with('.') && !name.starts_with('~');
    if !bare || given.exists() {
        return None;
    }
    let tools = envs::locate(host, envs::BackendChoice::Auto);
    let envs = envs::list_envs(&tools, host, &[]);
    if let Some(e) = envs.iter().find(|e| e.name.as_deref() == Some(name)) {
        return Some(Ok(e.prefix.clone()));
    }
    let names: Vec<&str> = envs.iter().filter_map(|e| e.name.as_deref()).collect();
    Some(Err(kernelspec::closest(name, names, 3)
        .into_iter()
        .map(str::to_owned)
        .collect()))
}

fn create_with(choice: BackendChoice, tools: &Tools) -> CreateWith {
    let conda = tools
        .conda
        .as_ref()
        .map(|t| BackendKind::from_flavor(t.flavor));
    let venv = if tools.python.is_some() {
        CreateWith::Backend(BackendKind::Venv)
    } else {
        CreateWith::Missing(BackendKind::Venv)
    };
    let conda_kind = |want: BackendKind| match conda {
        Some(k) if k == want => CreateWith::Backend(k),
        _ => CreateWith::Missing(want),
    };
    match choice {
        BackendChoice::Auto => conda.map_or(venv, CreateWith::Backend),
        BackendChoice::Only(BackendKind::Venv) => venv,
        BackendChoice::Only(BackendKind::Rattler) if envs::RATTLER_BUILT => {
            CreateWith::Backend(BackendKind::Rattler)
        }
        BackendChoice::Only(want) => conda_kind(want),
    }
}

/// A managed kernel of this name (the winner first, then shadowed copies) whose recorded
/// environment still exists and was made by a backend the choice accepts.
fn reusable_env(
    req: &KernelRequest,
    discovery: &Discovery,
    choice: BackendChoice,
) -> Option<ManagedMeta> {
    discovery
        .kernels
        .iter()
        .chain(discovery.shadowed.iter())
        .filter(|k| k.name == req.name.as_str())
        .filter_map(|k| k.spec.as_ref().ok().and_then(ManagedMeta::from_spec))
        .find(|m| {
            m.env.is_dir()
                && match m.backend.kind() {
                    Some(kind) => choice.accepts(kind),
                    None => choice == BackendChoice::Auto,
                }
        })
}

/// A managed kernel of this name (the winner first) whose recorded environment is gone and
/// which records the backend that made it: what a repair re-makes.
fn lost_env(req: &KernelRequest, discovery: &Discovery) -> Option<ManagedMeta> {
    let first = discovery
        .kernels
        .iter()
        .chain(discovery.shadowed.iter())
        .filter(|k| k.name == req.name.as_str())
        .find_map(|k| k.spec.as_ref().ok().and_then(ManagedMeta::from_spec))?;
    (std::fs::symlink_metadata(&first.env).is_err() && first.backend.kind().is_some())
        .then_some(first)
}

/// The default place of a new environment named after the kernel.
fn default_prefix(
    req: &KernelRequest,
    host: &HostEnv,
    tools: &Tools,
    create_with: CreateWith,
) -> Prefix {
    let name = req.name.as_str();
    Prefix::from_recorded(match (create_with, &tools.conda) {
        (CreateWith::Backend(BackendKind::Venv), _) => envs::venv_home(host).join(name),
        // rattler without a conda: the user's first conda envs dir (`~/.conda/envs`).
        (CreateWith::Backend(BackendKind::Rattler), None) => envs::envs_dirs(None, host)
            .into_iter()
            .next()
            .unwrap_or_else(|| envs::venv_home(host))
            .join(name),
        (_, None) => envs::venv_home(host).join(name),
        (_, Some(tool)) => conda_envs_dir(&tool.root, host, name).join(name),
    })
}

/// conda's rule for `-n NAME`: the first envs dir that already has a directory `NAME`, else
/// the first writable one (or creatable: its nearest existing ancestor is writable), else
/// `<root>/envs`.
pub fn conda_envs_dir(root: &Path, host: &HostEnv, name: &str) -> PathBuf {
    let dirs = envs::envs_dirs(Some(root), host);
    if let Some(d) = dirs.iter().find(|d| d.join(name).is_dir()) {
        return d.clone();
    }
    dirs.iter()
        .find(|d| envs::writable_or_creatable(d))
        .cloned()
        .unwrap_or_else(|| root.join("envs"))
}

fn prefix_state(prefix: &Path, host: &HostEnv) -> PrefixState {
    let Ok(meta) = std::fs::symlink_metadata(prefix) else {
        return PrefixState::Absent;
    };
    if meta.is_dir() || prefix.is_dir() {
        let empty = std::fs::read_dir(prefix)
            .map(|mut rd| rd.next().is_none())
            .unwrap_or(false);
        if empty {
            return PrefixState::EmptyDir;
        }
        match crate::guard::state(prefix) {
            crate::guard::Guarded::NotGuarded => {}
            guarded => {
                return PrefixState::HalfMade {
                    building: matches!(guarded, crate::guard::Guarded::Building(_)),
                    ours: crate::ownership::check_deletable(host, prefix).is_ok(),
                }
            }
        }
        return match EnvFacts::read(prefix, host) {
            Some(f) => PrefixState::Env(Box::new(f)),
            None => PrefixState::NotAnEnv,
        };
    }
    PrefixState::NotAnEnv
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn venv(prefix: &Path, with_ipykernel: bool) {
        fs::create_dir_all(prefix.join("bin")).unwrap();
        fs::write(prefix.join("bin/python"), "").unwrap();
        fs::write(
            prefix.join("pyvenv.cfg"),
            "home = /usr/bin\nimplementation = CPython\nversion_info = 3.12.1\n",
        )
        .unwrap();
        let sp = prefix.join("lib/python3.12/site-packages");
        fs::create_dir_all(&sp).unwrap();
        if with_ipykernel {
            fs::create_dir_all(sp.join("ipykernel/resources")).unwrap();
            fs::create_dir_all(sp.join("ipykernel-7.4.0.dist-info")).unwrap();
            fs::write(
                sp.join("ipykernel-7.4.0.dist-info/METADATA"),
                "Name: ipykernel\nVersion: 7.4.0\n\n",
            )
            .unwrap();
        }
    }

    #[test]
    fn env_facts_of_a_venv() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("v");
        venv(&p, true);
        let host = HostEnv::from_vars([("PATH", "/usr/bin"), ("HOME", "/h")]);
        let f = EnvFacts::read(&p, &host).unwrap();
        assert_eq!(f.env.kind, EnvKind::Venv);
        assert!(f.cpython);
        assert_eq!(f.python_version.as_deref(), Some("3.12.1"));
        let ipk = f.ipykernel.unwrap();
        assert_eq!(ipk.version.as_deref(), Some("7.4.0"));
        assert!(ipk.resources.unwrap().ends_with("ipykernel/resources"));
        assert!(f.pip_names.contains("ipykernel"));
        let a = f.activation.unwrap().unwrap();
        assert_eq!(a.vars["PATH"], format!("{}/bin:${{PATH}}", p.display()));
        assert!(!f.externally_managed);
    }

    #[test]
    fn prefix_states() {
        let t = tempfile::tempdir().unwrap();
        let host = HostEnv::from_vars([("PATH", "/usr/bin")]);
        assert_eq!(
            prefix_state(&t.path().join("none"), &host),
            PrefixState::Absent
        );
        fs::create_dir(t.path().join("empty")).unwrap();
        assert_eq!(
            prefix_state(&t.path().join("empty"), &host),
            PrefixState::EmptyDir
        );
        fs::create_dir(t.path().join("full")).unwrap();
        fs::write(t.path().join("full/notes.txt"), "x").unwrap();
        assert_eq!(
            prefix_state(&t.path().join("full"), &host),
            PrefixState::NotAnEnv
        );
        venv(&t.path().join("v"), false);
        assert!(prefix_state(&t.path().join("v"), &host).env().is_some());
    }

    #[test]
    fn r_prefix_without_python_is_an_environment() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        fs::create_dir_all(p.join("lib/R/bin")).unwrap();
        fs::write(p.join("lib/R/bin/R"), "").unwrap();
        fs::create_dir_all(p.join("lib/R/site-library/IRkernel/kernelspec")).unwrap();
        let f = EnvFacts::read(p, &HostEnv::default()).unwrap();
        let r = f.r.unwrap();
        assert_eq!(r.r_exe, p.join("lib/R/bin/R"));
        assert_eq!(
            r.irkernel_spec_dir.unwrap(),
            p.join("lib/R/site-library/IRkernel/kernelspec")
        );
        assert!(is_system_prefix(Path::new("/usr")));
    }

    #[test]
    fn conda_envs_dir_prefers_existing_then_writable() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let home = t.path().join("home");
        fs::create_dir_all(root.join("envs")).unwrap();
        fs::create_dir_all(home.join(".conda/envs/mine")).unwrap();
        let host = HostEnv::from_vars([("HOME", home.display().to_string())]);
        assert_eq!(
            conda_envs_dir(&root, &host, "mine"),
            home.join(".conda/envs")
        );
        assert_eq!(conda_envs_dir(&root, &host, "new"), root.join("envs"));
    }
}
