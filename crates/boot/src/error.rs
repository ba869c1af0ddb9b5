//! The error type of every fallible operation in this crate.

use std::path::PathBuf;
use std::time::Duration;

use crate::wire::Channel;

/// Why starting or talking to a kernel failed. Each variant names the action.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootError {
    /// The spec's argv is empty, so there is nothing to run.
    #[error("kernel `{name}` has an empty argv")]
    EmptyArgv {
        /// Kernel name.
        name: String,
    },
    /// A bare `argv[0]` was not found on the launch environment's `PATH`.
    #[error("program `{program}` of kernel `{name}` was not found on PATH ({path})")]
    ProgramNotFound {
        /// Kernel name.
        name: String,
        /// The bare program name from argv.
        program: String,
        /// The `PATH` value that was searched (empty when unset).
        path: String,
    },
    /// Spawning the kernel process failed.
    #[error("failed to start kernel `{name}`: could not run `{program}`")]
    Spawn {
        /// Kernel name.
        name: String,
        /// Program path that was executed.
        program: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Creating the directory for the connection file failed.
    #[error("failed to create runtime directory {}", path.display())]
    CreateRuntimeDir {
        /// Directory path.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Writing the connection file failed.
    #[error("failed to write connection file {}", path.display())]
    WriteConnectionFile {
        /// File path.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Finding free TCP ports on the loopback interface failed.
    #[error("failed to pick free TCP ports on 127.0.0.1")]
    PickPorts {
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The operating system's random number source failed.
    #[error("failed to read random bytes: {message}")]
    Random {
        /// Description of the failure.
        message: String,
    },
    /// Building the async runtime failed.
    #[error("failed to build the async runtime")]
    Runtime {
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Encoding a message to JSON failed.
    #[error("failed to encode a `{msg_type}` message")]
    Encode {
        /// Message type being encoded.
        msg_type: String,
        /// Underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// Sending on a kernel socket failed.
    #[error("failed to send `{msg_type}` on the {channel} channel of kernel `{name}`")]
    Send {
        /// Kernel name.
        name: String,
        /// Channel used.
        channel: Channel,
        /// Message type sent.
        msg_type: String,
        /// Underlying error.
        #[source]
        source: zeromq::ZmqError,
    },
    /// Connecting a socket failed for a reason other than "not listening yet".
    #[error("failed to connect the {channel} channel of kernel `{name}` to {endpoint}")]
    Connect {
        /// Kernel name.
        name: String,
        /// Channel being connected.
        channel: Channel,
        /// Endpoint URL.
        endpoint: String,
        /// Underlying error.
        #[source]
        source: zeromq::ZmqError,
    },
    /// The kernel process exited while we were waiting for it.
    #[error("kernel `{name}` exited while {waiting_for} ({})", describe_exit(*exit_code, *signal))]
    Died {
        /// Kernel name.
        name: String,
        /// What we were waiting for.
        waiting_for: &'static str,
        /// Exit code, when it exited normally.
        exit_code: Option<i32>,
        /// Signal number, when a signal killed it.
        signal: Option<i32>,
        /// The last lines the kernel wrote to stderr.
        stderr_tail: Vec<String>,
    },
    /// Nothing arrived in time.
    #[error("kernel `{name}`: no answer within {waited:?} while {waiting_for}")]
    Timeout {
        /// Kernel name.
        name: String,
        /// What we were waiting for.
        waiting_for: &'static str,
        /// How long we waited.
        waited: Duration,
    },
    /// The kernel answered a request with `status` other than `ok`.
    #[error("kernel `{name}` answered `{msg_type}` with status `{status}`: {message}")]
    ErrorReply {
        /// Kernel name.
        name: String,
        /// Reply type.
        msg_type: String,
        /// The reply's status.
        status: String,
        /// `ename: evalue` when given.
        message: String,
    },
    /// Sending a signal to the kernel's process group failed.
    #[error("failed to send SIG{signal} to process group {pgid} of kernel `{name}`: {message}")]
    Signal {
        /// Kernel name.
        name: String,
        /// Signal name without the `SIG` prefix.
        signal: &'static str,
        /// Process group id.
        pgid: u32,
        /// What went wrong.
        message: String,
    },
    /// Waiting for the kernel process failed.
    #[error("failed to wait for kernel `{name}` (pid {pid})")]
    Wait {
        /// Kernel name.
        name: String,
        /// Process id.
        pid: u32,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Removing the connection file failed.
    #[error("failed to remove connection file {}", path.display())]
    RemoveConnectionFile {
        /// File path.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// "exit code 1", "killed by signal 9" or "unknown status".
pub(crate) fn describe_exit(exit_code: Option<i32>, signal: Option<i32>) -> String {
    match (exit_code, signal) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => "unknown exit status".to_owned(),
    }
}
