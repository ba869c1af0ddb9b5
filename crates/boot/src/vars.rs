//! Every environment variable this crate reads or writes, documented once.
//!
//! Nothing here is read from the real process environment: reads go through the
//! inherited-env snapshot the caller passes in [`crate::BootOptions::inherited_env`].

/// Set in the kernel's environment to our process id, as jupyter_client does, so a
/// kernel can notice that its parent went away.
pub(crate) const JPY_PARENT_PID: &str = "JPY_PARENT_PID";

/// Read from the snapshot: expands a leading `~` in argv elements.
pub(crate) const HOME: &str = "HOME";

/// Read from the snapshot: when set, the connection file gains `jupyter_session`.
pub(crate) const JPY_SESSION_NAME: &str = "JPY_SESSION_NAME";

/// Read from the launch environment: searched for a bare `argv[0]`.
pub(crate) const PATH: &str = "PATH";

/// Read from the snapshot: directory for the connection file when no runtime dir
/// is given (falls back to `/tmp`).
pub(crate) const TMPDIR: &str = "TMPDIR";
