//! The environment side of `kernels`: find conda-family tools and Python, list
//! environments from disk, create and change environments through conda, mamba,
//! micromamba or venv+pip/uv, and compute what activating an environment sets.
//!
//! Everything starts from a [`HostEnv`] snapshot, so nothing here reads the process
//! environment behind the caller's back, and every tool runs through one
//! [`process::run`] with an allowlisted environment and stdin at `/dev/null`.
//!
//! ```no_run
//! use envs::{backend_for, list_envs, locate, BackendChoice, BackendKind, CancelToken,
//!            CreateEnv, HostEnv, NoProgress, Prefix};
//!
//! let host = HostEnv::from_process();
//! let tools = locate(&host, BackendChoice::Auto);
//! for env in list_envs(&tools, &host, &[]) {
//!     println!("{:?} {}", env.name, env.prefix.display());
//! }
//! let backend = backend_for(BackendKind::Venv, &tools, &host)?;
//! let req = CreateEnv::new(Prefix::absolute("/tmp/demo-env"));
//! let env = backend.create(&req, &CancelToken::new(), &NoProgress)?;
//! assert!(env.has_ipykernel);
//! # Ok::<(), envs::EnvError>(())
//! ```
//!
//! Modules, in the order data flows:
//! * [`vars`]: every environment variable read, and [`HostEnv`];
//! * `prefix`: an environment's absolute prefix ([`Prefix`]);
//! * [`process`]: the process runner ([`ToolCommand`], [`run`], [`CancelToken`]);
//! * `locate`: finding tools ([`locate()`]);
//! * `condarc`/`discover`: listing environments from disk ([`list_envs`]);
//! * `packages`: what is installed, by name ([`PackageSet`]);
//! * [`conda_json`] and `conda`: the conda-family CLI driver ([`CondaDriver`]);
//! * `pipconf`/`provision`: the user's pip index settings for uv, and installing kernels'
//!   own uv once ([`provision_uv`]);
//! * `venv`: the venv + pip/uv driver ([`VenvDriver`]);
//! * `conda_config`: the channel settings of the conda configuration ([`CondaConfig`]);
//! * `rattler_backend` (cargo feature `rattler`): conda environments made in-process;
//! * `backend`: the [`Backend`] trait over the drivers;
//! * `activation`: the variables of an activated environment ([`activate`]).

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod activation;
mod backend;
mod conda;
mod conda_config;
pub mod conda_json;
mod condarc;
mod discover;
mod error;
mod locate;
mod packages;
mod pipconf;
mod prefix;
pub mod process;
pub mod progress;
mod provision;
#[cfg(feature = "rattler")]
mod rattler_backend;
pub mod tool_error;
pub mod vars;
mod venv;
mod writable;

pub use activation::{
    activate, activate_scripts, default_env_name, env_file_vars, predict_activation,
    template_escape, Activation, ActivationMethod,
};
pub use writable::writable_or_creatable;
/// Whether this build has the rattler backend (cargo feature `rattler`).
pub const RATTLER_BUILT: bool = cfg!(feature = "rattler");

pub use backend::{
    backend_for, Backend, BackendChoice, BackendKind, CondaBackend, CreateEnv, Language,
    UnknownBackend, VenvBackend,
};
pub use conda::{
    absolute, check_create_target, check_not_frozen, CondaCreate, CondaDriver, PREFIX_GUARD,
};
pub use conda_config::{ChannelPriority, CondaConfig, DEFAULT_CHANNELS, DEFAULT_CHANNEL_ALIAS};
pub use conda_json::{CondaFailure, CondaInfo, EnvList, PackageRecord, Transaction};
pub use condarc::{envs_dirs, parse_envs_dirs};
pub use discover::{
    is_externally_managed, list_envs, pyvenv_cfg_value, read_frozen, venv_home, EnvKind,
    Environment, Frozen,
};
pub use error::EnvError;
pub use locate::{
    conda_found_by, existing_roots, flavor_from_version_output, locate, probe_flavor,
    python_found_by, root_for, tool_dir, usual_roots, CondaFlavor, CondaTool, FoundBy, Tools,
    UvProvision,
};
pub use packages::{
    conda_packages, conda_spec_name, installed_packages, missing_conda, missing_pip,
    normalize_name, pip_spec_name, site_packages_dirs, PackageSet,
};
pub use pipconf::{uv_options_from_pip, Untranslatable, UvIndexOptions};
pub use prefix::Prefix;
pub use process::{
    reap_group_main, run, run_checked, set_group_reaper, CancelToken, NoObserver, ProcessError,
    ProcessObserver, ToolCommand, ToolOutput, REAP_GROUP_ARG,
};
pub use progress::{Event, LineForwarder, NoProgress, Progress, Step, Stream, ToolName};
pub use provision::{provision_command, provision_uv};
#[cfg(feature = "rattler")]
pub use rattler_backend::{RattlerBackend, Solution};
pub use tool_error::ToolRun;
pub use vars::HostEnv;
pub use venv::{
    env_python, pip_install_command, remove_prefix, PipInstall, PythonChoice, VenvDriver,
    VenvInstaller,
};
