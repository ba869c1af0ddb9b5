//! [`RunningKernel`]: a blocking session with a started kernel, for tests and tools.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::client::Kernel;
use crate::connection::ConnectionInfo;
use crate::error::BootError;
use crate::execute::ExecuteResult;
use crate::report::runtime;
use crate::spec::{BootOptions, LaunchSpec};

/// How long a message-mode interrupt waits for its `interrupt_reply`.
const INTERRUPT_REPLY_WAIT: Duration = Duration::from_secs(5);

/// A started kernel with connected shell, iopub and control channels.
///
/// Blocking: every method drives a private single-threaded async runtime. Dropping it
/// without [`RunningKernel::shutdown`] kills the kernel's process group.
#[derive(Debug)]
pub struct RunningKernel {
    // Field order matters: the kernel (and its sockets) drop before the runtime.
    kernel: Kernel,
    runtime: tokio::runtime::Runtime,
}

/// An `execute_request` that was sent and picked up, waiting to be collected with
/// [`RunningKernel::wait_execute`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingExecute {
    msg_id: String,
}

impl PendingExecute {
    /// The request's `msg_id`.
    pub fn msg_id(&self) -> &str {
        &self.msg_id
    }
}

impl RunningKernel {
    /// Launch `spec` and wait (up to `opts.timeout`) until it answers `kernel_info`.
    pub fn start(spec: &LaunchSpec, opts: &BootOptions) -> Result<Self, BootError> {
        let runtime = runtime()?;
        let kernel = runtime
            .block_on(Kernel::start(spec, opts))
            .map_err(|failure| failure.error)?;
        Ok(Self { kernel, runtime })
    }

    /// The `kernel_info_reply` content received during start.
    pub fn startup_kernel_info(&self) -> &Value {
        self.kernel.kernel_info()
    }

    /// Ask again: a fresh `kernel_info_reply` content.
    pub fn kernel_info(&mut self, timeout: Duration) -> Result<Value, BootError> {
        let Self { kernel, runtime } = self;
        runtime.block_on(kernel.request_kernel_info(timeout))
    }

    /// Run `code` and collect its output until the kernel is idle again.
    pub fn execute(&mut self, code: &str, timeout: Duration) -> Result<ExecuteResult, BootError> {
        let pending = self.execute_start(code)?;
        self.wait_execute(&pending, timeout)
    }

    /// Send `code` and return once the kernel has picked it up (or after 5 s), so it
    /// can be interrupted; collect the result with [`RunningKernel::wait_execute`].
    pub fn execute_start(&mut self, code: &str) -> Result<PendingExecute, BootError> {
        let Self { kernel, runtime } = self;
        let msg_id = runtime.block_on(kernel.execute_start(code))?;
        Ok(PendingExecute { msg_id })
    }

    /// Collect stdout/stderr streams, the `text/plain` result and any error of a
    /// pending execution until its reply and `status: idle` arrived.
    pub fn wait_execute(
        &mut self,
        pending: &PendingExecute,
        timeout: Duration,
    ) -> Result<ExecuteResult, BootError> {
        let Self { kernel, runtime } = self;
        runtime.block_on(kernel.execute_wait(&pending.msg_id, timeout))
    }

    /// Interrupt: SIGINT to the kernel's process group (signal mode, via `kill(1)`), or
    /// `interrupt_request` on control, waiting up to 5 s for its reply (message mode).
    pub fn interrupt(&mut self) -> Result<(), BootError> {
        let Self { kernel, runtime } = self;
        runtime.block_on(kernel.interrupt(INTERRUPT_REPLY_WAIT))
    }

    /// `shutdown_request {"restart": false}` on control; wait 2.5 s, SIGTERM the group,
    /// wait 2.5 s, SIGKILL it (jupyter_client's schedule); delete the connection file.
    pub fn shutdown(mut self) -> Result<(), BootError> {
        let Self { kernel, runtime } = &mut self;
        runtime.block_on(kernel.shutdown()).map(drop)
    }

    /// Process id of the kernel, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.kernel.pid()
    }

    /// The connection info (ports and key) the kernel was started with.
    pub fn connection(&self) -> &ConnectionInfo {
        self.kernel.connection()
    }

    /// Path of the connection file, while it exists.
    pub fn connection_file(&self) -> Option<PathBuf> {
        self.kernel.connection_file()
    }

    /// Last lines (up to 40) of the kernel's stderr so far.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.kernel.tails().1
    }

    /// Last lines (up to 40) of the kernel's stdout so far.
    pub fn stdout_tail(&self) -> Vec<String> {
        self.kernel.tails().0
    }

    /// How many incoming messages were dropped for a bad signature or shape.
    pub fn invalid_messages(&self) -> u64 {
        self.kernel.invalid_messages()
    }
}
