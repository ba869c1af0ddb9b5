//! Start a Jupyter kernel from its spec and talk to it over the Jupyter wire protocol
//! (ZeroMQ, HMAC-SHA256), the way jupyter_client does.
//!
//! * [`boot`] / [`boot_many`]: launch, wait for the first `kernel_info_reply`, shut
//!   down, and report what happened ([`BootReport`], [`BootOutcome`]): the language and
//!   its version, the time to the first reply, or why it failed (died with its stderr,
//!   timed out, could not be spawned, replied with an error). `boot_many` boots all
//!   kernels at once.
//! * [`RunningKernel`]: a small blocking client to run code, interrupt and shut down.
//!
//! Inputs are plain values: a [`LaunchSpec`] filled from a `kernel.json` and
//! [`BootOptions`] carrying the environment to launch with, so nothing here reads
//! the process environment.
//!
//! Launching follows jupyter_client: a 0600 connection file with five free loopback
//! ports and a random key, `{connection_file}`/`{resource_dir}`/`{prefix}` argv
//! placeholders, `~` expansion, `$VAR`/`${VAR}` substitution of spec env values against
//! the inherited env, no `PYTHONEXECUTABLE` for python kernels, `JPY_PARENT_PID`, and a
//! new process group (so interrupts and termination reach the whole kernel).
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use boot::{boot, BootOptions, BootOutcome, InterruptMode, LaunchSpec};
//!
//! let spec = LaunchSpec {
//!     name: "python3".into(),
//!     argv: vec!["python3".into(), "-m".into(), "ipykernel_launcher".into(),
//!                "-f".into(), "{connection_file}".into()],
//!     env: BTreeMap::new(),
//!     language: "python".into(),
//!     interrupt_mode: InterruptMode::Signal,
//!     resource_dir: "/usr/share/jupyter/kernels/python3".into(),
//! };
//! let inherited: BTreeMap<String, String> = std::env::vars().collect();
//! let report = boot(&spec, &BootOptions::new(inherited));
//! match &report.outcome {
//!     BootOutcome::Ok { language, language_version, .. } => {
//!         println!("{language} {language_version} in {:?}", report.elapsed_to_reply);
//!     }
//!     other => eprintln!("{other}\n{}", report.stderr_tail.join("\n")),
//! }
//! ```

// Tests may unwrap; library code may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod client;
mod connection;
mod error;
mod execute;
mod ids;
mod launch;
mod process;
mod report;
mod running;
mod spec;
mod vars;
mod wire;

pub use connection::ConnectionInfo;
pub use error::BootError;
pub use execute::{ExecuteError, ExecuteResult, ExecuteStatus};
pub use kernelspec::{causes, error_chain, repeats};
pub use report::{boot, boot_many, BootOutcome, BootReport};
pub use running::{PendingExecute, RunningKernel};
pub use spec::{BootOptions, InterruptMode, LaunchSpec};
pub use wire::Channel;
