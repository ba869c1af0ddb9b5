//! One-shot liveness checks: [`boot`] one kernel or [`boot_many`] at once, and what
//! they report.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::{Kernel, StartFailure};
use crate::error::{describe_exit, BootError};
use crate::spec::{BootOptions, LaunchSpec};

/// How a boot ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootOutcome {
    /// The kernel answered `kernel_info_request` with status `ok`.
    Ok {
        /// `implementation`, e.g. `ipython`.
        implementation: String,
        /// `implementation_version`.
        implementation_version: String,
        /// `language_info.name`.
        language: String,
        /// `language_info.version`.
        language_version: String,
        /// `protocol_version` from the reply content (not compared with anything).
        protocol_version: String,
    },
    /// The process exited before replying; the report's stderr tail usually says why
    /// (e.g. `No module named ipykernel_launcher`).
    Died {
        /// Exit code, when it exited normally.
        exit_code: Option<i32>,
        /// Signal number, when a signal killed it.
        signal: Option<i32>,
    },
    /// No reply within the timeout: a hang, a slow start, or a kernel that rejects our
    /// signature (a wrong key looks exactly like this).
    Timeout,
    /// The kernel could not be started at all (argv[0] missing, empty argv, no
    /// connection file could be written).
    SpawnFailed {
        /// The error, with its causes.
        message: String,
    },
    /// The kernel replied with a status other than `ok`.
    ErrorReply {
        /// `ename: evalue` and the status.
        message: String,
    },
    /// Our side failed while talking to a started kernel (socket or signal errors).
    ClientFailed {
        /// The error, with its causes.
        message: String,
    },
}

impl BootOutcome {
    /// Whether the kernel answered.
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok { .. })
    }

    fn from_kernel_info(content: &Value) -> Self {
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        Self::Ok {
            implementation: text(&content["implementation"]),
            implementation_version: text(&content["implementation_version"]),
            language: text(&content["language_info"]["name"]),
            language_version: text(&content["language_info"]["version"]),
            protocol_version: text(&content["protocol_version"]),
        }
    }

    fn from_error(error: &BootError) -> Self {
        match error {
            BootError::Died {
                exit_code, signal, ..
            } => Self::Died {
                exit_code: *exit_code,
                signal: *signal,
            },
            BootError::Timeout { .. } => Self::Timeout,
            BootError::ErrorReply {
                status, message, ..
            } => Self::ErrorReply {
                message: if message.is_empty() {
                    format!("status `{status}`")
                } else {
                    format!("status `{status}`: {message}")
                },
            },
            BootError::EmptyArgv { .. }
            | BootError::ProgramNotFound { .. }
            | BootError::Spawn { .. }
            | BootError::CreateRuntimeDir { .. }
            | BootError::WriteConnectionFile { .. }
            | BootError::PickPorts { .. }
            | BootError::Random { .. }
            | BootError::Runtime { .. } => Self::SpawnFailed {
                message: crate::error_chain(error),
            },
            _ => Self::ClientFailed {
                message: crate::error_chain(error),
            },
        }
    }
}

impl fmt::Display for BootOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok {
                implementation,
                implementation_version,
                language,
                language_version,
                protocol_version,
            } => write!(
                f,
                "ok: {language} {language_version} ({implementation} {implementation_version}, protocol {protocol_version})"
            ),
            Self::Died { exit_code, signal } => write!(
                f,
                "died before replying ({})",
                describe_exit(*exit_code, *signal)
            ),
            Self::Timeout => f.write_str("no reply before the timeout"),
            Self::SpawnFailed { message } => write!(f, "could not start: {message}"),
            Self::ErrorReply { message } => write!(f, "replied with an error: {message}"),
            Self::ClientFailed { message } => write!(f, "client error: {message}"),
        }
    }
}

/// What booting one kernel found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootReport {
    /// Kernel name, from the spec.
    pub name: String,
    /// How it ended.
    pub outcome: BootOutcome,
    /// Time from launch to the first `kernel_info_reply`, when there was one.
    pub elapsed_to_reply: Option<Duration>,
    /// Time from launch until the kernel was shut down and cleaned up.
    pub total: Duration,
    /// Last lines (up to 40) the kernel wrote to stderr.
    pub stderr_tail: Vec<String>,
    /// Last lines (up to 40) the kernel wrote to stdout.
    pub stdout_tail: Vec<String>,
    /// Process id (and process group id) of the kernel, when it was spawned.
    pub pid: Option<u32>,
    /// When this boot began.
    pub started_at: Instant,
    /// When this boot finished, cleanup included (`started_at + total`).
    pub finished_at: Instant,
    /// A problem while shutting a healthy kernel down (it was killed if needed).
    pub shutdown_error: Option<String>,
    /// Messages from the kernel dropped for a bad signature or shape. A
    /// [`BootOutcome::Timeout`] with a non-zero count means the kernel is alive and
    /// talking but signs with another key (or speaks something else).
    pub invalid_messages: u64,
}

/// Boot one kernel, ask for `kernel_info`, shut it down, report. Blocking; runs its own
/// single-threaded async runtime.
pub fn boot(spec: &LaunchSpec, opts: &BootOptions) -> BootReport {
    let started_at = Instant::now();
    match runtime() {
        Ok(rt) => rt.block_on(boot_async(spec, opts)),
        Err(error) => failed_report(spec, started_at, &error),
    }
}

/// Boot all `specs` **at once** and report in the same order; the whole call takes
/// about as long as the slowest single boot.
pub fn boot_many(specs: &[LaunchSpec], opts: &BootOptions) -> Vec<BootReport> {
    let started_at = Instant::now();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(error) => {
            return specs
                .iter()
                .map(|spec| failed_report(spec, started_at, &error))
                .collect()
        }
    };
    let opts = Arc::new(opts.clone());
    let cancel = opts.cancel.clone();
    rt.block_on(async {
        let handles: Vec<_> = specs
            .iter()
            .map(|spec| {
                let spec = spec.clone();
                let opts = Arc::clone(&opts);
                tokio::spawn(async move { boot_async(&spec, &opts).await })
            })
            .collect();
        let mut reports = Vec::with_capacity(handles.len());
        for (handle, spec) in handles.iter().zip(specs) {
            let report = loop {
                if handle.is_finished() {
                    break None;
                }
                if cancel
                    .as_ref()
                    .is_some_and(|c| c.load(std::sync::atomic::Ordering::SeqCst))
                {
                    break Some("interrupted before it answered".to_string());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            if let Some(message) = report {
                // Stop every boot still running: aborting drops its kernel, which kills it.
                for h in &handles {
                    h.abort();
                }
                reports.push(client_failed(spec, started_at, message));
                continue;
            }
            reports.push(client_failed(spec, started_at, String::new()));
        }
        for ((handle, spec), slot) in handles.into_iter().zip(specs).zip(reports.iter_mut()) {
            match handle.await {
                Ok(report) => *slot = report,
                Err(join) if join.is_cancelled() => {
                    if slot.outcome_message().is_empty() {
                        *slot = client_failed(spec, started_at, "interrupted".into());
                    }
                }
                Err(join) => {
                    *slot = client_failed(spec, started_at, format!("boot task failed: {join}"))
                }
            }
        }
        reports
    })
}

/// A report for a boot that did not finish (interrupted, or its task failed).
fn client_failed(spec: &LaunchSpec, started_at: Instant, message: String) -> BootReport {
    let now = Instant::now();
    BootReport {
        name: spec.name.clone(),
        outcome: BootOutcome::ClientFailed { message },
        elapsed_to_reply: None,
        total: now - started_at,
        stderr_tail: Vec::new(),
        stdout_tail: Vec::new(),
        pid: None,
        started_at,
        finished_at: now,
        shutdown_error: None,
        invalid_messages: 0,
    }
}

impl BootReport {
    fn outcome_message(&self) -> &str {
        match &self.outcome {
            BootOutcome::ClientFailed { message } => message,
            _ => "",
        }
    }
}

/// The async body of [`boot`].
pub(crate) async fn boot_async(spec: &LaunchSpec, opts: &BootOptions) -> BootReport {
    let begun = Instant::now();
    match Kernel::start(spec, opts).await {
        Ok(mut kernel) => {
            let (started_at, replied_at) = kernel.times();
            let outcome = BootOutcome::from_kernel_info(kernel.kernel_info());
            let shutdown_error = kernel
                .shutdown()
                .await
                .err()
                .map(|e| crate::error_chain(&e));
            let (stdout_tail, stderr_tail) = kernel.tails();
            let pid = Some(kernel.pid());
            let invalid_messages = kernel.invalid_messages();
            drop(kernel);
            let finished_at = Instant::now();
            BootReport {
                name: spec.name.clone(),
                outcome,
                elapsed_to_reply: Some(replied_at - started_at),
                total: finished_at - started_at,
                stderr_tail,
                stdout_tail,
                pid,
                started_at,
                finished_at,
                shutdown_error,
                invalid_messages,
            }
        }
        Err(StartFailure {
            error,
            pid,
            stdout_tail,
            stderr_tail,
            invalid_messages,
        }) => {
            let finished_at = Instant::now();
            BootReport {
                name: spec.name.clone(),
                outcome: BootOutcome::from_error(&error),
                elapsed_to_reply: None,
                total: finished_at - begun,
                stderr_tail,
                stdout_tail,
                pid,
                started_at: begun,
                finished_at,
                shutdown_error: None,
                invalid_messages,
            }
        }
    }
}

/// A current-thread runtime with timers and IO.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, BootError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| BootError::Runtime { source })
}

fn failed_report(spec: &LaunchSpec, started_at: Instant, error: &BootError) -> BootReport {
    let finished_at = Instant::now();
    BootReport {
        name: spec.name.clone(),
        outcome: BootOutcome::from_error(error),
        elapsed_to_reply: None,
        total: finished_at - started_at,
        stderr_tail: Vec::new(),
        stdout_tail: Vec::new(),
        pid: None,
        started_at,
        finished_at,
        shutdown_error: None,
        invalid_messages: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ok_outcome_reads_the_reference_reply() {
        // Content of the real reply in reference §8.4 (abridged).
        let content = json!({"status": "ok", "protocol_version": "5.3", "implementation": "ipython",
            "implementation_version": "9.18.1", "language_info": {"name": "python", "version": "3.11.7"}});
        let outcome = BootOutcome::from_kernel_info(&content);
        assert_eq!(
            outcome,
            BootOutcome::Ok {
                implementation: "ipython".into(),
                implementation_version: "9.18.1".into(),
                language: "python".into(),
                language_version: "3.11.7".into(),
                protocol_version: "5.3".into(),
            }
        );
        assert_eq!(
            outcome.to_string(),
            "ok: python 3.11.7 (ipython 9.18.1, protocol 5.3)"
        );
    }

    #[test]
    fn errors_map_to_outcomes() {
        let died = BootError::Died {
            name: "k".into(),
            waiting_for: "x",
            exit_code: Some(1),
            signal: None,
            stderr_tail: vec![],
        };
        assert_eq!(
            BootOutcome::from_error(&died),
            BootOutcome::Died {
                exit_code: Some(1),
                signal: None
            }
        );
        let missing = BootError::ProgramNotFound {
            name: "k".into(),
            program: "nope".into(),
            path: "/bin".into(),
        };
        let BootOutcome::SpawnFailed { message } = BootOutcome::from_error(&missing) else {
            panic!("expected SpawnFailed");
        };
        assert!(message.contains("`nope`"), "{message}");
    }
}
