//! `doctor --boot`: start every checked kernel at once, ask it for `kernel_info`, shut it down.

use std::time::Duration;

use boot::{BootOptions, BootOutcome, BootReport, InterruptMode, LaunchSpec};
use kernelspec::{FoundKernel, KernelSpec};
use serde::Serialize;

use super::{Check, DoctorReport, Machine, Status};

/// How many of a dead kernel's last stderr lines are kept.
const STDERR_LINES: usize = 15;

/// What booting one kernel showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootResult {
    /// `ok`, `died`, `timeout`, `spawn_failed`, `error_reply` or `client_failed`.
    pub outcome: &'static str,
    /// One sentence.
    pub message: String,
    /// `language_info.name` of the reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// `language_info.version` of the reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_version: Option<String>,
    /// `implementation` and its version, e.g. `ipython 9.1.0`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implementation: Option<String>,
    /// Milliseconds from launch to the first `kernel_info_reply`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_reply_ms: Option<u64>,
    /// Milliseconds from launch to the end of the shutdown.
    pub total_ms: u64,
    /// The exit code of a kernel that died.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal that killed a kernel that died.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// The last lines the kernel wrote to stderr (for kernels that did not answer).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stderr_tail: Vec<String>,
}

/// The boot crate's input for a discovered kernel.
pub fn launch_spec(kernel: &FoundKernel, spec: &KernelSpec) -> LaunchSpec {
    LaunchSpec {
        name: kernel.name.clone(),
        argv: spec.argv.clone(),
        env: spec.env.clone(),
        language: spec.language.clone(),
        interrupt_mode: match spec.interrupt_mode {
            kernelspec::InterruptMode::Signal => InterruptMode::Signal,
            kernelspec::InterruptMode::Message => InterruptMode::Message,
        },
        resource_dir: kernel.resource_dir.clone(),
    }
}

/// Boots every kernel of `report` whose spec loads and can be launched, all at once, each
/// with `timeout` for its first reply, and adds a `boot` check and a [`BootResult`] to each.
/// When `cancel` is set (Ctrl-C, SIGTERM) the wait ends at once and every kernel started is
/// killed with its process group.
pub fn boot_kernels(
    report: &mut DoctorReport,
    machine: &Machine<'_>,
    timeout: Duration,
    cancel: &envs::CancelToken,
) {
    let mut specs = Vec::new();
    let mut index = Vec::new();
    for (i, kr) in report.kernels.iter().enumerate() {
        let Some(kernel) = machine
            .discovery
            .kernels
            .iter()
            .find(|k| k.resource_dir == kr.resource_dir)
        else {
            continue;
        };
        let Ok(spec) = &kernel.spec else { continue };
        if !spec.is_launchable() {
            continue;
        }
        specs.push(launch_spec(kernel, spec));
        index.push(i);
    }
    if specs.is_empty() {
        return;
    }
    let mut opts = BootOptions::new(machine.host.vars.clone());
    opts.timeout = timeout;
    opts.cancel = Some(cancel.flag());
    let reports = boot::boot_many(&specs, &opts);
    for (i, boot_report) in index.into_iter().zip(reports) {
        let (result, check) = summarize(&boot_report, timeout);
        let kr = &mut report.kernels[i];
        kr.checks.push(check);
        kr.boot = Some(result);
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn summarize(r: &BootReport, timeout: Duration) -> (BootResult, Check) {
    let tail: Vec<String> = r
        .stderr_tail
        .iter()
        .rev()
        .take(STDERR_LINES)
        .rev()
        .cloned()
        .collect();
    let mut result = BootResult {
        outcome: "ok",
        message: r.outcome.to_string(),
        language: None,
        language_version: None,
        implementation: None,
        time_to_reply_ms: r.elapsed_to_reply.map(millis),
        total_ms: millis(r.total),
        exit_code: None,
        signal: None,
        stderr_tail: Vec::new(),
    };
    let check = match &r.outcome {
        BootOutcome::Ok {
            implementation,
            implementation_version,
            language,
            language_version,
            ..
        } => {
            result.language = Some(language.clone());
            result.language_version = Some(language_version.clone());
            result.implementation = Some(format!("{implementation} {implementation_version}"));
            let secs = r.elapsed_to_reply.unwrap_or_default().as_secs_f64();
            let mut c = Check::new(
                "boot",
                Status::Ok,
                format!(
                    "boots: {language} {language_version} ({implementation} {implementation_version}), first reply after {secs:.2} s"
                ),
            );
            if let Some(e) = &r.shutdown_error {
                c = c.with_details(vec![format!("shutting it down: {e}")]);
            }
            c
        }
        BootOutcome::Died { exit_code, signal } => {
            result.outcome = "died";
            result.exit_code = *exit_code;
            result.signal = *signal;
            result.stderr_tail = tail.clone();
            let cause = key_line(&tail)
                .map(|l| format!(": {l}"))
                .unwrap_or_default();
            Check::new("boot", Status::Problem, format!("{}{cause}", r.outcome)).with_details(tail)
        }
        BootOutcome::Timeout => {
            result.outcome = "timeout";
            result.stderr_tail = tail.clone();
            let mut message = format!(
                "no reply within {} s (the kernel hangs, is very slow to start, or signs with another key)",
                timeout.as_secs_f64()
            );
            if r.invalid_messages > 0 {
                message = format!(
                    "no valid reply within {} s: {} message(s) had a bad signature (the kernel uses another key)",
                    timeout.as_secs_f64(),
                    r.invalid_messages
                );
            }
            Check::new("boot", Status::Problem, message).with_details(tail)
        }
        BootOutcome::SpawnFailed { .. } => {
            result.outcome = "spawn_failed";
            Check::new("boot", Status::Problem, r.outcome.to_string())
        }
        BootOutcome::ErrorReply { .. } => {
            result.outcome = "error_reply";
            result.stderr_tail = tail.clone();
            Check::new("boot", Status::Problem, r.outcome.to_string()).with_details(tail)
        }
        BootOutcome::ClientFailed { .. } => {
            result.outcome = "client_failed";
            result.stderr_tail = tail.clone();
            Check::new("boot", Status::Problem, r.outcome.to_string()).with_details(tail)
        }
    };
    (result, check)
}

/// The line of a dead kernel's stderr that most likely says why (an import error, an
/// exception), else its last non-empty line.
fn key_line(tail: &[String]) -> Option<&str> {
    let lines = tail.iter().map(|l| l.trim()).filter(|l| !l.is_empty());
    lines
        .clone()
        .rev()
        .find(|l| l.contains("No module named") || l.contains("Error") || l.contains("error:"))
        .or_else(|| lines.clone().next_back())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_line_prefers_the_import_error() {
        let tail: Vec<String> = [
            "Traceback (most recent call last):",
            "  File \"x\", line 1",
            "ModuleNotFoundError: No module named 'ipykernel'",
            "",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            key_line(&tail),
            Some("ModuleNotFoundError: No module named 'ipykernel'")
        );
        let tail = vec!["just this".to_string()];
        assert_eq!(key_line(&tail), Some("just this"));
        assert_eq!(key_line(&[]), None);
    }
}
