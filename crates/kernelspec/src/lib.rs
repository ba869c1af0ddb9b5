//! Jupyter kernel specs, the way Jupyter itself sees them: validated names, the `kernel.json`
//! model, the search path, discovery, atomic install/remove and the launch-time substitutions.
//! No subprocesses are started by this crate.
//!
//! The behaviour mirrors jupyter_client 8.10 / jupyter_core 5.9; where Python has a trap the
//! module docs say what we do instead.
//!
//! ```no_run
//! use kernelspec::{discover, JupyterPaths, PathsInput};
//!
//! let paths = JupyterPaths::new(&PathsInput::from_process_env());
//! let found = discover(&paths);
//! for k in &found.kernels {
//!     match &k.spec {
//!         Ok(spec) => println!("{}  {}  {}", k.name, spec.display_name, k.resource_dir.display()),
//!         Err(e) => println!("{}  (broken: {e})", k.name),
//!     }
//! }
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod bounded;
mod chain;
mod discover;
mod install;
mod launch;
mod name;
mod paths;
mod platform;
mod probe;
mod pyjson;
pub mod server;
mod spec;
mod suggest;
pub mod vars;

pub use chain::{causes, error_chain, repeats};
pub use discover::{discover, DirAction, DirProblem, Discovery, FoundKernel};
pub use install::{
    copy_tree, install, remove, CopyError, FsFailure, InstallError, InstallRequest, RemoveError,
};
pub use launch::{
    apply_language_rules, build_argv, expand_tilde, is_generic_python, kernel_env,
    resolve_generic_python, safe_substitute, substitute_argv, substitute_env,
};
pub use name::{is_valid_name, KernelName, NameError, NameProblem, MAX_NAME_LEN, NAME_RULE};
pub use paths::{DataDir, EnvPrefix, JupyterPaths, KernelDir, PathsInput, Scope};
pub use platform::{envset, Platform};
pub use probe::running_as_root;
pub use pyjson::to_python_json;
pub use spec::{
    InterruptMode, KernelSpec, RawFields, SpecError, SpecProblem, SpecWarning, MAX_SPEC_BYTES,
};
pub use suggest::closest;
