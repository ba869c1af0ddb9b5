//! Every environment variable this crate reads, documented once.
//!
//! Only [`crate::PathsInput::from_process_env`] reads the process environment; everything else
//! takes a [`crate::PathsInput`] snapshot, so tests never touch the real home.

/// Extra data directories with the highest priority, separated by `:` (`;` on Windows).
pub const JUPYTER_PATH: &str = "JUPYTER_PATH";
/// The user data directory, used verbatim when non-empty.
pub const JUPYTER_DATA_DIR: &str = "JUPYTER_DATA_DIR";
/// Linux (and, with `JUPYTER_PLATFORM_DIRS`, macOS): base of the user data directory.
pub const XDG_DATA_HOME: &str = "XDG_DATA_HOME";
/// With `JUPYTER_PLATFORM_DIRS` on Linux/macOS: system data directories.
pub const XDG_DATA_DIRS: &str = "XDG_DATA_DIRS";
/// Base of the XDG config directory, where an old IPython dir may live.
pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
/// When set (even empty), decides alone whether env dirs come before user dirs.
pub const JUPYTER_PREFER_ENV_PATH: &str = "JUPYTER_PREFER_ENV_PATH";
/// Truthy: use platform-standard user/system dirs (`platformdirs`) instead of the legacy ones.
pub const JUPYTER_PLATFORM_DIRS: &str = "JUPYTER_PLATFORM_DIRS";
/// Windows, truthy: `%PROGRAMDATA%\jupyter` becomes the system dir (off by default since
/// jupyter_core 5.8).
pub const JUPYTER_USE_PROGRAMDATA: &str = "JUPYTER_USE_PROGRAMDATA";
/// Windows: the roaming application data dir (legacy user data dir base).
pub const APPDATA: &str = "APPDATA";
/// Windows: the machine-wide application data dir.
pub const PROGRAMDATA: &str = "PROGRAMDATA";
/// Windows: the local application data dir (platform-dirs user data dir base).
pub const LOCALAPPDATA: &str = "LOCALAPPDATA";
/// Windows without `APPDATA`: the Jupyter config dir, whose `data` subdir is the data dir.
pub const JUPYTER_CONFIG_DIR: &str = "JUPYTER_CONFIG_DIR";
/// Windows without `APPDATA`: when non-empty, Jupyter uses a throwaway config (and data) dir.
pub const JUPYTER_NO_CONFIG: &str = "JUPYTER_NO_CONFIG";
/// The IPython directory, whose `kernels` subdir is searched last.
pub const IPYTHONDIR: &str = "IPYTHONDIR";
/// The active virtual environment (its prefix).
pub const VIRTUAL_ENV: &str = "VIRTUAL_ENV";
/// The active conda environment's prefix.
pub const CONDA_PREFIX: &str = "CONDA_PREFIX";
/// The active conda environment's name (`base` for the root env).
pub const CONDA_DEFAULT_ENV: &str = "CONDA_DEFAULT_ENV";
/// Python's user base (`site.getuserbase()`), whose `share/jupyter` is a second user dir.
pub const PYTHONUSERBASE: &str = "PYTHONUSERBASE";
/// Non-empty: Python's user site is disabled, so the user base dir is not searched.
pub const PYTHONNOUSERSITE: &str = "PYTHONNOUSERSITE";
/// POSIX home directory.
pub const HOME: &str = "HOME";
/// Windows home directory.
pub const USERPROFILE: &str = "USERPROFILE";
/// Ours: the `sys.prefix` of the Jupyter installation whose kernels we manage. Overrides
/// `VIRTUAL_ENV`/`CONDA_PREFIX` for the env dir (`<prefix>/share/jupyter/kernels`).
pub const KERNELS_JUPYTER_PREFIX: &str = "KERNELS_JUPYTER_PREFIX";

/// Jupyter's runtime dir, where a running server leaves `jpserver-<pid>.json`.
pub const JUPYTER_RUNTIME_DIR: &str = "JUPYTER_RUNTIME_DIR";

/// The variables copied into [`crate::PathsInput::vars`] by `from_process_env`.
pub const SNAPSHOT_VARS: &[&str] = &[
    JUPYTER_PATH,
    JUPYTER_DATA_DIR,
    XDG_DATA_HOME,
    XDG_DATA_DIRS,
    XDG_CONFIG_HOME,
    JUPYTER_PREFER_ENV_PATH,
    JUPYTER_PLATFORM_DIRS,
    JUPYTER_USE_PROGRAMDATA,
    APPDATA,
    PROGRAMDATA,
    LOCALAPPDATA,
    JUPYTER_CONFIG_DIR,
    JUPYTER_NO_CONFIG,
    IPYTHONDIR,
    VIRTUAL_ENV,
    CONDA_PREFIX,
    CONDA_DEFAULT_ENV,
    PYTHONUSERBASE,
    PYTHONNOUSERSITE,
    KERNELS_JUPYTER_PREFIX,
    JUPYTER_RUNTIME_DIR,
];
