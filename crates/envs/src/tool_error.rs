//! A failed tool run, summarised for humans from the tool's own structured error.
//!
//! The tools report failures in their own ways: conda with `--json` prints one JSON document
//! (`exception_name`, `message`, `packages`), pip prints `ERROR:` lines on stderr, uv an
//! `error:` line followed by `Caused by:` lines, and a crashing Python tool a traceback.
//! [`summarize`] turns any of these into at most [`MAX_LINES`] short lines; the complete
//! output stays in the [`ToolRun`] (see [`ToolRun::log_text`]) for a log file, so that no raw
//! JSON or traceback has to reach a person reading an error.

use std::error::Error;
use std::path::Path;

use crate::conda_json::{self, CondaFailure};
use crate::error::EnvError;
use crate::process::{ExitDescription, ProcessError, ToolCommand, ToolOutput};

/// At most this many summary lines.
pub const MAX_LINES: usize = 4;
/// A summary line longer than this many characters is cut.
const MAX_WIDTH: usize = 200;

/// A tool run that finished unsuccessfully, with everything it printed. Its `Display` is one
/// short line; the output is in the fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{command}` failed with {status}")]
pub struct ToolRun {
    /// The tool's short name for messages ("conda", "pip", "uv").
    pub tool: String,
    /// The command line as displayed.
    pub command: String,
    /// How it ended.
    pub status: ExitDescription,
    /// What it wrote on stdout (all of it, or the tail a [`ProcessError`] kept).
    pub stdout: String,
    /// What it wrote on stderr (likewise).
    pub stderr: String,
}

impl ToolRun {
    /// The failed run of `cmd` that ended with `out`, keeping its whole output.
    pub fn new(cmd: &ToolCommand, out: &ToolOutput) -> ToolRun {
        let command = cmd.display();
        ToolRun {
            tool: tool_name(&command),
            command,
            status: out.exit(),
            stdout: out.stdout.clone(),
            stderr: out.stderr.clone(),
        }
    }

    /// The failed run an error stands for: a [`ToolRun`] itself, or a
    /// [`ProcessError::Failed`] (which keeps the last lines of each stream), boxed or not.
    pub fn find(err: &(dyn Error + 'static)) -> Option<ToolRun> {
        // A boxed source (`details: Box<ToolRun>`) is seen as the box itself.
        if let Some(run) = err.downcast_ref::<ToolRun>() {
            return Some(run.clone());
        }
        if let Some(run) = err.downcast_ref::<Box<ToolRun>>() {
            return Some((**run).clone());
        }
        let process = err
            .downcast_ref::<ProcessError>()
            .or_else(|| err.downcast_ref::<Box<ProcessError>>().map(|b| &**b))?;
        match process {
            ProcessError::Failed {
                command,
                status,
                stdout_tail,
                stderr_tail,
            } => Some(ToolRun {
                tool: tool_name(command),
                command: command.clone(),
                status: *status,
                stdout: stdout_tail.clone(),
                stderr: stderr_tail.clone(),
            }),
            _ => None,
        }
    }

    /// What the tool said, in at most [`MAX_LINES`] lines (see [`summarize`]).
    pub fn summary(&self) -> Vec<String> {
        summarize(&self.stdout, &self.stderr)
    }

    /// The whole run as text for a log file: command, status, stdout, stderr.
    pub fn log_text(&self) -> String {
        format!(
            "command: {}\nstatus: {}\n\n--- stdout ---\n{}\n--- stderr ---\n{}\n",
            self.command,
            self.status,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// What pip and uv print when they cannot resolve a request (and so install nothing).
const UNRESOLVED: &[&str] = &[
    "No matching distribution found",
    "Could not find a version that satisfies",
    "No solution found when resolving",
    "not found in the package registry",
];

/// True when a failed operation stopped before changing the environment: the tool could not
/// resolve the request (packages not found, conflicts, a missing channel) or was refused
/// before it ran. False when it may have installed part of the request.
pub fn stopped_before_changes(err: &EnvError) -> bool {
    match err {
        EnvError::Conda { failure, .. } => matches!(
            failure,
            CondaFailure::PackagesNotFound { .. }
                | CondaFailure::Unsatisfiable { .. }
                | CondaFailure::ChannelUnavailable { .. }
                | CondaFailure::EnvironmentLocationNotFound { .. }
                | CondaFailure::ReservedName { .. }
                | CondaFailure::TermsOfService { .. }
                | CondaFailure::Frozen { .. }
                | CondaFailure::DeclinedPrompt
        ),
        EnvError::Process { source, .. } => match source {
            ProcessError::Failed {
                stdout_tail,
                stderr_tail,
                ..
            } => UNRESOLVED
                .iter()
                .any(|m| stderr_tail.contains(m) || stdout_tail.contains(m)),
            ProcessError::NotFound { .. } | ProcessError::Spawn { .. } => true,
            _ => false,
        },
        EnvError::ToolMissing { .. }
        | EnvError::PythonNotFound { .. }
        | EnvError::EnvExists { .. }
        | EnvError::Frozen { .. }
        | EnvError::NotAnEnvironment { .. }
        | EnvError::UnsupportedLanguage { .. } => true,
        // rattler changes the prefix only when it links.
        EnvError::Rattler { action, .. } => *action != "install packages into",
        EnvError::UnexpectedOutput { .. } | EnvError::Io { .. } | EnvError::Interrupted { .. } => {
            false
        }
    }
}

/// The short name of the tool a displayed command line runs: the program's file name, or
/// the module of `python -m MODULE`.
fn tool_name(command: &str) -> String {
    // The program is shell-quoted when it holds a space: `'/a b/uv' pip ...`.
    let (program, rest) = match command.strip_prefix('\'') {
        Some(quoted) => quoted.split_once('\'').unwrap_or((quoted, "")),
        None => command.split_once(' ').unwrap_or((command, "")),
    };
    let mut words = rest.split_whitespace();
    let name = Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| program.to_owned());
    if name.starts_with("python") && words.next() == Some("-m") {
        if let Some(module) = words.next() {
            return module.to_owned();
        }
    }
    name
}

/// What a failed tool said, in at most [`MAX_LINES`] short lines, from (in this order) a
/// conda `--json` error document, pip's `ERROR:` lines, uv's `error:`/`Caused by:` lines,
/// libmamba's `critical` lines, the last line of a Python traceback, or else the last line
/// the tool wrote. Empty when it wrote nothing.
pub fn summarize(stdout: &str, stderr: &str) -> Vec<String> {
    let lines = conda_summary(stdout)
        .or_else(|| marked_lines(stderr, stdout))
        .or_else(|| traceback_summary(stderr))
        .unwrap_or_else(|| {
            last_line(stderr)
                .or_else(|| last_line(stdout))
                .into_iter()
                .collect()
        });
    lines.into_iter().take(MAX_LINES).map(|l| cut(&l)).collect()
}

/// conda's JSON error: `ExceptionName: first line of the message`, or the missing packages.
fn conda_summary(stdout: &str) -> Option<Vec<String>> {
    let obj = conda_json::json_object(stdout)?;
    let name = obj.get("exception_name").and_then(|v| v.as_str());
    let message = obj
        .get("message")
        .or_else(|| obj.get("error"))
        .and_then(|v| v.as_str());
    if name.is_none() && message.is_none() {
        return None;
    }
    let packages: Vec<&str> = obj
        .get("packages")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|p| p.as_str()).collect())
        .unwrap_or_default();
    let what = if packages.is_empty() {
        message
            .and_then(|m| m.lines().map(str::trim).find(|l| !l.is_empty()))
            .unwrap_or_default()
            .trim_end_matches(':')
            .to_owned()
    } else {
        format!("not available: {}", packages.join(", "))
    };
    Some(vec![match name {
        Some(n) if !what.is_empty() => format!("{n}: {what}"),
        Some(n) => n.to_owned(),
        None => what,
    }])
}

/// pip's `ERROR:` lines and uv's `error:` line with the `Caused by:` lines after it;
/// libmamba's `critical libmamba` lines.
fn marked_lines(stderr: &str, stdout: &str) -> Option<Vec<String>> {
    let mut found = Vec::new();
    let mut in_uv_error = false;
    for line in stderr.lines().chain(stdout.lines()) {
        let t = line.trim();
        if t.starts_with("ERROR:") || t.starts_with("error:") || t.contains("critical libmamba") {
            found.push(t.to_owned());
            in_uv_error = t.starts_with("error:");
        } else if in_uv_error && t.starts_with("Caused by:") {
            found.push(format!("  {t}"));
        } else {
            in_uv_error = in_uv_error && t.is_empty();
        }
    }
    found.dedup();
    (!found.is_empty()).then_some(found)
}

/// The exception line that ends a Python traceback.
fn traceback_summary(stderr: &str) -> Option<Vec<String>> {
    let start = stderr.rfind("Traceback (most recent call last):")?;
    let exception = stderr[start..]
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty() && !l.starts_with(' ') && !l.starts_with('\t'))
        .last()?;
    Some(vec![exception.trim().to_owned()])
}

fn last_line(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}

fn cut(line: &str) -> String {
    if line.chars().count() <= MAX_WIDTH {
        return line.to_owned();
    }
    let mut s: String = line.chars().take(MAX_WIDTH - 1).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conda_json_error_names_the_exception_and_each_missing_package() {
        // The document conda 26.7.1 prints for `create --json ... r-base r-irkernel`.
        let stdout = r#"{
  "caused_by": "None",
  "error": "PackagesNotFoundInChannelsError: The following packages are not available from current channels:\n\n  - r-irkernel\n  - r-base\n",
  "exception_name": "PackagesNotFoundInChannelsError",
  "message": "The following packages are not available from current channels:\n\n  - r-irkernel\n  - r-base\n",
  "packages": ["r-irkernel", "r-base"]
}"#;
        assert_eq!(
            summarize(stdout, ""),
            ["PackagesNotFoundInChannelsError: not available: r-irkernel, r-base"]
        );
        let other = r#"{"exception_name": "CondaValueError", "message": "bad spec:\n\nmore"}"#;
        assert_eq!(summarize(other, ""), ["CondaValueError: bad spec"]);
    }

    #[test]
    fn pip_error_lines_are_kept_and_the_noise_dropped() {
        let stderr = "Looking in indexes: https://pypi.org/simple\n\
            ERROR: Could not find a version that satisfies the requirement nope-pkg (from versions: none)\n\
            ERROR: No matching distribution found for nope-pkg\n";
        assert_eq!(
            summarize("Collecting nope-pkg\n", stderr),
            [
                "ERROR: Could not find a version that satisfies the requirement nope-pkg (from versions: none)",
                "ERROR: No matching distribution found for nope-pkg"
            ]
        );
    }

    #[test]
    fn uv_error_keeps_its_caused_by_lines() {
        let stderr = "Using Python 3.11.7\n  × No solution found when resolving dependencies:\n\
            error: Failed to fetch: `https://pypi.org/simple/nope/`\n  Caused by: Could not connect\n\nhint: try again\n";
        assert_eq!(
            summarize("", stderr),
            [
                "error: Failed to fetch: `https://pypi.org/simple/nope/`",
                "  Caused by: Could not connect"
            ]
        );
    }

    #[test]
    fn a_traceback_becomes_its_exception_line() {
        let stderr = "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n    import nope\nModuleNotFoundError: No module named 'nope'\n";
        assert_eq!(
            summarize("", stderr),
            ["ModuleNotFoundError: No module named 'nope'"]
        );
    }

    #[test]
    fn otherwise_the_last_line_short_and_bounded() {
        assert_eq!(summarize("", "a\nsomething broke\n\n"), ["something broke"]);
        assert!(summarize("", "").is_empty());
        let long = "x".repeat(500);
        assert_eq!(summarize(&long, "")[0].chars().count(), MAX_WIDTH);
        let many = "ERROR: a\nERROR: b\nERROR: c\nERROR: d\nERROR: e\n";
        assert_eq!(summarize("", many).len(), MAX_LINES);
    }

    #[test]
    fn tool_names_come_from_the_command() {
        assert_eq!(tool_name("/opt/conda/bin/conda create -p /x"), "conda");
        assert_eq!(tool_name("/e/bin/python -m pip install x"), "pip");
        assert_eq!(tool_name("'/a b/uv' pip install"), "uv");
    }
}
