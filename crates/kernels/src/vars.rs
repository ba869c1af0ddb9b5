//! Every environment variable the plan/execute core reads, documented once.
//!
//! They are read from an [`envs::HostEnv`] snapshot the caller passes in, never from the
//! process. (The protection policy documents its own in [`crate::policy::vars`].)

use std::time::Duration;

/// How many seconds a mutating run waits for another `kernels` run to release the lock
/// before it gives up (exit 5, "busy"). A number of seconds, fractions allowed; `0` means do
/// not wait. Default: [`DEFAULT_LOCK_TIMEOUT`].
pub const KERNELS_LOCK_TIMEOUT: &str = "KERNELS_LOCK_TIMEOUT";

/// XDG state directory; the lock file is `$XDG_STATE_HOME/kernels/lock`, else
/// `~/.local/state/kernels/lock`.
pub const XDG_STATE_HOME: &str = "XDG_STATE_HOME";

/// The wait for the lock when [`KERNELS_LOCK_TIMEOUT`] is unset or not a number.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);
