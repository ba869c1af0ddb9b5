//! Plain inputs: what to launch ([`LaunchSpec`]) and how ([`BootOptions`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How a kernel is interrupted (`interrupt_mode` in `kernel.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InterruptMode {
    /// SIGINT to the kernel's process group (the default).
    #[default]
    Signal,
    /// An `interrupt_request` on the control channel.
    Message,
}

/// Everything needed from a `kernel.json` to launch it. Plain data, filled by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    /// Kernel name (the spec directory's name); written as `kernel_name` in the connection file.
    pub name: String,
    /// Raw argv with `{connection_file}`, `{resource_dir}` and `{prefix}` placeholders.
    ///
    /// A bare `argv[0]` (no `/`) is looked up on the `PATH` of the launch environment.
    /// jupyter_client replaces a leading `python`/`python3` with its own interpreter;
    /// we are not Python, so those names are resolved through `PATH` like any other.
    pub argv: Vec<String>,
    /// Raw spec env. Each value is substituted against the inherited env with Python's
    /// `string.Template.safe_substitute` rules (`$VAR`, `${VAR}`, `$$` → `$`, unknown
    /// names kept) and then overrides it.
    pub env: BTreeMap<String, String>,
    /// Spec language; when it starts with `python` (any case), `PYTHONEXECUTABLE` is dropped.
    pub language: String,
    /// How to interrupt the kernel.
    pub interrupt_mode: InterruptMode,
    /// The spec directory, substituted for `{resource_dir}`.
    pub resource_dir: PathBuf,
}

/// How to launch: timeout, environment and directories.
#[derive(Debug, Clone)]
pub struct BootOptions {
    /// How long to wait for the first `kernel_info_reply` (default 60 s).
    pub timeout: Duration,
    /// The environment the kernel inherits; callers normally pass a snapshot of the
    /// process environment. Also the source of `HOME` (for `~`) and `TMPDIR`.
    pub inherited_env: BTreeMap<String, String>,
    /// Directory for the connection file (`kernel-<id>.json`); created if missing.
    /// Default: `$TMPDIR` from [`BootOptions::inherited_env`], else `/tmp`.
    pub runtime_dir: Option<PathBuf>,
    /// Value of `{prefix}` in argv; when `None` the placeholder is left as written.
    pub prefix_for_placeholder: Option<PathBuf>,
    /// Working directory of the kernel; default: ours.
    pub cwd: Option<PathBuf>,
    /// Set (by a SIGINT/SIGTERM handler) to stop at once: [`crate::boot_many`] then stops
    /// waiting, kills every kernel it started (the whole process group) and reports the
    /// unfinished ones as interrupted.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl BootOptions {
    /// The default timeout for the first reply, as in jupyter_client's `startup_timeout`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

    /// Options with the default timeout that launch kernels with `inherited_env`.
    pub fn new(inherited_env: BTreeMap<String, String>) -> Self {
        Self {
            inherited_env,
            ..Self::default()
        }
    }
}

impl Default for BootOptions {
    /// 60 s timeout and an **empty** inherited environment; set
    /// [`BootOptions::inherited_env`] to pass `PATH`, `HOME` and the rest on.
    fn default() -> Self {
        Self {
            timeout: Self::DEFAULT_TIMEOUT,
            inherited_env: BTreeMap::new(),
            runtime_dir: None,
            prefix_for_placeholder: None,
            cwd: None,
            cancel: None,
        }
    }
}
