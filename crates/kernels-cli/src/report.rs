//! The one error renderer: what failed (for whom), then why (`Caused by:` lines, outermost
//! first), then what the run left behind, then what to do.
//!
//! ```text
//! error: kernel `x`: creating the environment ~/.conda/envs/x failed
//!   Caused by: conda create `~/.conda/envs/x` failed: packages not found in the configured channels: r-base
//!   Caused by: `conda create -p ... r-base` failed with exit status 1
//!       conda: PackagesNotFoundInChannelsError: not available: r-base
//!       full output: ~/.local/state/kernels/logs/conda-1764400000-4242.log
//! rolled back: nothing is left of the environment ~/.conda/envs/x
//! hint: check the package names and versions, or add a channel that has them
//! ```
//!
//! A failed tool run is summarised from its own structured error ([`envs::tool_error`]); its
//! whole output goes to a log file under the user's state directory, and is printed only with
//! `-v`. A long message keeps its first lines unless `-v`.

use std::io::Write;
use std::path::{Path, PathBuf};

use envs::ToolRun;

use crate::exit::{hint_of, Failure};

/// How many lines of one multi-line message are shown without `-v`.
const MESSAGE_LINES: usize = 3;

/// An error as the user reads it.
#[derive(Debug, Default)]
pub struct Report {
    /// What failed, for whom: the outermost message.
    pub headline: String,
    /// Further lines of the outermost message (e.g. one line per problem in a file).
    pub headline_detail: Vec<String>,
    /// Why, outermost first.
    pub causes: Vec<Cause>,
    /// What the run did about it (rollback), shown after the causes.
    pub notes: Vec<String>,
    /// What to do.
    pub hint: Option<String>,
}

/// One `Caused by:` line and the indented lines under it.
#[derive(Debug)]
pub struct Cause {
    /// The message's first line.
    pub text: String,
    /// Further lines: the rest of a long message, or the summary of a tool's output.
    pub detail: Vec<String>,
    /// The failed tool run this cause stands for.
    pub run: Option<ToolRun>,
}

impl Report {
    /// The report of an error chain (`verbose`: keep every line of long messages).
    pub fn of(err: &anyhow::Error, verbose: bool) -> Report {
        let mut messages: Vec<String> = Vec::new();
        let mut report = Report {
            hint: hint_of(err).map(str::to_owned),
            ..Report::default()
        };
        for e in err.chain() {
            if let Some(f) = e.downcast_ref::<Failure>() {
                report.notes.extend(f.notes.iter().cloned());
            }
            if let Some(run) = ToolRun::find(e) {
                let mut detail: Vec<String> = run
                    .summary()
                    .into_iter()
                    .map(|l| format!("{}: {l}", run.tool))
                    .collect();
                detail.dedup();
                report.causes.push(Cause {
                    text: run.to_string(),
                    detail,
                    run: Some(run),
                });
                messages.push(e.to_string());
                continue;
            }
            let text = e.to_string();
            if messages
                .last()
                .is_some_and(|last| boot::repeats(last, &text))
            {
                continue;
            }
            let mut lines = text.lines().map(str::to_owned);
            let first = lines.next().unwrap_or_default();
            let mut detail: Vec<String> = lines.filter(|l| !l.trim().is_empty()).collect();
            if !verbose && detail.len() > MESSAGE_LINES {
                let more = detail.len() - MESSAGE_LINES;
                detail.truncate(MESSAGE_LINES);
                detail.push(format!("… ({more} more lines; -v shows them)"));
            }
            messages.push(text);
            if messages.len() == 1 {
                report.headline = first;
                report.headline_detail = detail;
            } else {
                report.causes.push(Cause {
                    text: first,
                    detail,
                    run: None,
                });
            }
        }
        report
    }

    /// The tool runs behind this error.
    pub fn runs(&self) -> impl Iterator<Item = &ToolRun> {
        self.causes.iter().filter_map(|c| c.run.as_ref())
    }

    /// Writes each failed run's whole output to a log file in `dir` and names it under its
    /// cause; when that fails, says so (the output is then shown by `-v`).
    pub fn save_logs(&mut self, dir: &Path, show: &dyn Fn(&Path) -> String) {
        for cause in &mut self.causes {
            let Some(run) = &cause.run else { continue };
            cause.detail.push(match write_log(dir, run) {
                Ok(path) => format!("full output: {}", show(&path)),
                Err(e) => format!("the full output could not be saved ({e}); -v shows it"),
            });
        }
    }

    /// The error on one line (for JSON documents and lists of failures).
    pub fn one_line(&self) -> String {
        std::iter::once(self.headline.as_str())
            .chain(self.headline_detail.iter().map(|l| l.trim()))
            .chain(self.causes.iter().map(|c| c.text.as_str()))
            .collect::<Vec<_>>()
            .join(": ")
    }
}

/// `<dir>/<tool>-<unix seconds>-<pid>.log`, created new (never through an existing file or
/// link) and readable only by the user: tool output can hold private paths and URLs.
fn write_log(dir: &Path, run: &ToolRun) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir)?;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let tool: String = run
        .tool
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let mut n = 0;
    loop {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        let path = dir.join(format!("{tool}-{secs}-{}{suffix}.log", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut file) => {
                file.write_all(run.log_text().as_bytes())?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Code;

    fn run(stdout: &str) -> ToolRun {
        ToolRun {
            tool: "conda".into(),
            command: "conda create -p /e --json r-base".into(),
            status: envs::process::ExitDescription::Code(1),
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    #[test]
    fn a_tool_failure_is_summarised_and_logged_not_dumped() {
        let json = r#"{"exception_name": "PackagesNotFoundError", "message": "long\n\ntext", "packages": ["r-base"]}"#;
        let err = anyhow::Error::new(run(json)).context("creating the environment /e failed");
        let mut report = Report::of(&err, false);
        assert_eq!(report.headline, "creating the environment /e failed");
        assert_eq!(report.causes.len(), 1);
        assert_eq!(
            report.causes[0].detail,
            ["conda: PackagesNotFoundError: not available: r-base"]
        );
        let dir = tempfile::tempdir().unwrap();
        report.save_logs(dir.path(), &|p| p.display().to_string());
        let logged = report.causes[0].detail[1]
            .strip_prefix("full output: ")
            .unwrap()
            .to_owned();
        let text = std::fs::read_to_string(&logged).unwrap();
        assert!(text.contains("\"packages\": [\"r-base\"]"), "{text}");
        assert!(!report.one_line().contains('{'));
    }

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("adding x failed")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn failure_notes_hint_and_long_messages() {
        let inner = std::io::Error::other("one\ntwo\nthree\nfour\nfive");
        let mut f = Failure::from_error(Code::Failed, Outer(inner)).hint("try y");
        f.notes.push("rolled back: z".into());
        let err = anyhow::Error::new(f);
        let report = Report::of(&err, false);
        assert_eq!(report.headline, "adding x failed");
        assert_eq!(report.notes, ["rolled back: z"]);
        assert_eq!(report.hint.as_deref(), Some("try y"));
        assert_eq!(report.causes[0].text, "one");
        assert_eq!(report.causes[0].detail.len(), MESSAGE_LINES + 1);
        assert_eq!(Report::of(&err, true).causes[0].detail.len(), 4);
        assert_eq!(report.one_line(), "adding x failed: one");
    }
}
