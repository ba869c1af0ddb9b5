//! Every environment variable the protection policy reads, documented once. They are read
//! from an [`envs::HostEnv`] snapshot passed in by the caller, never from the process.

/// Path of the system policy file, instead of [`DEFAULT_SYSTEM_POLICY`]. For administrators
/// who keep it elsewhere, and for tests (which point it into their sandbox).
pub const KERNELS_SYSTEM_POLICY: &str = "KERNELS_SYSTEM_POLICY";

/// Base of the user's configuration directory; the user policy file is
/// `$XDG_CONFIG_HOME/kernels/policy.json`, else `~/.config/kernels/policy.json`.
pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";

/// Where the system policy file is when [`KERNELS_SYSTEM_POLICY`] is unset.
pub const DEFAULT_SYSTEM_POLICY: &str = "/etc/kernels/policy.json";
