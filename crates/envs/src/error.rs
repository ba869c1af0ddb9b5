//! The crate's error type.

use std::path::PathBuf;

use crate::backend::BackendKind;
use crate::conda_json::CondaFailure;
use crate::process::ProcessError;
use crate::tool_error::ToolRun;

/// Why an environment operation failed. Every variant names what was being done and the
/// path or program involved; [`EnvError::hint`] suggests what to do.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// The tool a backend needs was not found.
    #[error("{}", backend.missing_text())]
    ToolMissing {
        /// The backend that needs it.
        backend: BackendKind,
    },
    /// No Python interpreter matching the request was found for a venv.
    #[error("no Python interpreter {request} was found")]
    PythonNotFound {
        /// The version request, or "on PATH".
        request: String,
    },
    /// Refused to create over an existing, non-empty directory.
    #[error("refusing to create an environment at `{}`: it already exists and is not empty", prefix.display())]
    EnvExists {
        /// The target prefix.
        prefix: PathBuf,
    },
    /// Refused to modify a CEP 22 frozen environment.
    #[error("refusing to modify `{}`: the environment is frozen{}", prefix.display(), message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Frozen {
        /// The prefix.
        prefix: PathBuf,
        /// The marker's message.
        message: Option<String>,
    },
    /// The prefix is not an environment this backend can work with.
    #[error("`{}` is not a {expected} environment", prefix.display())]
    NotAnEnvironment {
        /// The prefix.
        prefix: PathBuf,
        /// What was expected ("conda", "Python").
        expected: &'static str,
    },
    /// The backend cannot make environments for this language.
    #[error("the {backend} backend cannot create {language} environments")]
    UnsupportedLanguage {
        /// The backend.
        backend: BackendKind,
        /// The language requested.
        language: String,
    },
    /// A conda-family tool reported a failure.
    #[error("{action} `{}` failed: {failure}", prefix.display())]
    Conda {
        /// What was being done ("conda create", "mamba install", …).
        action: String,
        /// The target prefix.
        prefix: PathBuf,
        /// The recognised failure.
        failure: CondaFailure,
        /// The command, its exit status and its whole output (`Display` is one line).
        #[source]
        details: Box<ToolRun>,
    },
    /// A tool could not be run, failed, was interrupted or timed out.
    #[error("{action} failed")]
    Process {
        /// What was being done.
        action: String,
        /// The process failure (command, status, output).
        #[source]
        source: ProcessError,
    },
    /// A tool succeeded but printed something we could not understand.
    #[error("{action}: unexpected output from `{}`: {detail}", program.display())]
    UnexpectedOutput {
        /// What was being done.
        action: String,
        /// The program.
        program: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// rattler (the in-process conda backend) failed: loading channels, solving, fetching
    /// or linking packages.
    #[error("{action} `{}` failed: {detail}", prefix.display())]
    Rattler {
        /// What was being done ("solve", "install packages into", …).
        action: &'static str,
        /// The target prefix.
        prefix: PathBuf,
        /// rattler's message, with its causes.
        detail: String,
    },
    /// Stopped by the caller's cancel (Ctrl-C) while working in-process.
    #[error("{action} `{}` was interrupted", prefix.display())]
    Interrupted {
        /// What was being done.
        action: &'static str,
        /// The target prefix.
        prefix: PathBuf,
    },
    /// A file-system operation failed.
    #[error("failed to {action} `{}`", path.display())]
    Io {
        /// What was being done ("remove", "read", …).
        action: String,
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl EnvError {
    /// True when the operation stopped because the caller cancelled it.
    pub fn is_interrupted(&self) -> bool {
        match self {
            EnvError::Process { source, .. } => source.is_interrupted(),
            EnvError::Interrupted { .. } => true,
            _ => false,
        }
    }

    /// The recognised conda failure, if this is one.
    pub fn conda_failure(&self) -> Option<&CondaFailure> {
        match self {
            EnvError::Conda { failure, .. } => Some(failure),
            _ => None,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            EnvError::ToolMissing { backend: BackendKind::Venv } => Some(
                "install Python 3 (with its venv module), or set KERNELS_PYTHON to an interpreter".to_owned(),
            ),
            EnvError::ToolMissing {
                backend: BackendKind::Rattler,
            } => Some(
                "rebuild kernels with its default features (cargo feature `rattler`), or use `--backend conda` or `--backend venv`".to_owned(),
            ),
            EnvError::ToolMissing { backend } => Some(format!(
                "install {backend} (e.g. Miniforge), point KERNELS_CONDA at it, or use `--backend venv`"
            )),
            EnvError::PythonNotFound { .. } => Some(
                "install that Python version, set KERNELS_PYTHON, or use a conda backend, which can install any version".to_owned(),
            ),
            EnvError::EnvExists { .. } => Some(
                "choose another name, or remove the existing environment first".to_owned(),
            ),
            EnvError::Frozen { .. } => Some(
                "the environment's owner marked it frozen (conda-meta/frozen); create a new environment instead".to_owned(),
            ),
            EnvError::UnsupportedLanguage { .. } => {
                Some("use a conda backend (conda, mamba or micromamba) for R".to_owned())
            }
            EnvError::Conda { failure, .. } => failure.hint(),
            EnvError::Rattler { action, .. } => rattler_hint(action),
            _ => None,
        }
    }
}

/// The steps of the rattler backend, as [`EnvError::Rattler`] and
/// [`EnvError::Interrupted`] name them: one spelling for the backend that reports them and
/// for the hints that answer them.
pub(crate) mod rattler_step {
    /// Parsing the requested package specs.
    pub const READ_SPECS: &str = "read the package specs for";
    /// Resolving the configured channels.
    pub const READ_CHANNELS: &str = "read the channels for";
    /// Downloading or reading the channels' indexes.
    pub const LOAD_CHANNELS: &str = "load the channels for";
    /// Detecting the machine's virtual packages (no hint: only the backend names it).
    #[cfg_attr(not(feature = "rattler"), expect(dead_code))]
    pub const DETECT_VIRTUAL: &str = "detect the system's virtual packages for";
    /// The solve.
    pub const SOLVE: &str = "solve";
    /// Fetching and linking the solved packages.
    pub const INSTALL: &str = "install packages into";
}

/// What to do when the rattler backend fails at `action` (see `rattler_backend`).
fn rattler_hint(action: &str) -> Option<String> {
    use rattler_step::*;
    let hint = match action {
        SOLVE => {
            "check the package names and versions against the channels (`-c CHANNEL` adds one; \
             `kernels add --dry-run` lists what would be installed)"
        }
        LOAD_CHANNELS => {
            "check that the channels are reachable from here: a proxy goes in HTTPS_PROXY, a \
             mirror in `channel_alias` or `custom_channels` of ~/.condarc"
        }
        READ_SPECS => "write package specs as conda does: `numpy`, `numpy=1.26`, `'numpy>=2'`",
        READ_CHANNELS => {
            "check the `-c` values and the `channels` of your .condarc: a name, a URL or a path"
        }
        INSTALL => {
            "check the free space and permissions of the package caches (`pkgs_dirs`) and of \
             the environment's directory"
        }
        _ => return None,
    };
    Some(hint.to_owned())
}
