//! Typed progress events: what the drivers and the executor report while they work, as data.
//!
//! The library never words progress for people: a [`Progress`] receiver gets an [`Event`]
//! (a step started or finished, a command line, one line a tool wrote, a conda transaction)
//! and the front end decides how to show it (a spinner with the tool's latest line, every
//! line with `-v`, nothing with `--json`), including how paths are shortened.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::conda_json::{PackageRecord, Transaction};
use crate::locate::CondaFlavor;
use crate::process::{ProcessObserver, ToolCommand};

/// The tool doing a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToolName {
    /// conda.
    Conda,
    /// mamba.
    Mamba,
    /// micromamba.
    Micromamba,
    /// `python -m venv` (packages with pip).
    Venv,
    /// The user's uv.
    Uv,
    /// kernels' own uv (provisioned once).
    OwnUv,
    /// pip.
    Pip,
    /// rattler, in-process.
    Rattler,
}

impl ToolName {
    /// The name of a conda-family tool.
    pub fn from_flavor(flavor: CondaFlavor) -> ToolName {
        match flavor {
            CondaFlavor::Conda => ToolName::Conda,
            CondaFlavor::Mamba => ToolName::Mamba,
            CondaFlavor::Micromamba => ToolName::Micromamba,
        }
    }
}

impl fmt::Display for ToolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ToolName::Conda => "conda",
            ToolName::Mamba => "mamba",
            ToolName::Micromamba => "micromamba",
            ToolName::Venv => "venv",
            ToolName::Uv => "uv",
            ToolName::OwnUv => "kernels' own uv",
            ToolName::Pip => "pip",
            ToolName::Rattler => "rattler",
        })
    }
}

/// A unit of work the user waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Creating the environment at `prefix`.
    CreateEnv {
        /// The new environment.
        prefix: PathBuf,
        /// The tool creating it (for a venv: the installer of its packages).
        tool: ToolName,
    },
    /// Installing `packages` into the environment at `prefix`.
    InstallPackages {
        /// The environment.
        prefix: PathBuf,
        /// The packages (empty: a requirements file only).
        packages: Vec<String>,
        /// The installer.
        tool: ToolName,
    },
    /// Installing kernels' own uv into `dir` with the pip of `python` (once per user).
    ProvisionUv {
        /// The tool directory.
        dir: PathBuf,
        /// The base interpreter whose pip installs it.
        python: PathBuf,
    },
    /// Writing the kernelspec `name` into `dir`.
    WriteKernel {
        /// The kernel name.
        name: String,
        /// The kernelspec directory.
        dir: PathBuf,
    },
}

/// Which stream a tool line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (pip and uv write their progress here).
    Stdout,
    /// Standard error.
    Stderr,
}

/// One thing that happened.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A step begins; the previous one, if any, is over.
    Started(&'a Step),
    /// The current step ended successfully after `elapsed`.
    Finished {
        /// How long it took.
        elapsed: Duration,
    },
    /// A tool is started with this command line.
    Command(&'a ToolCommand),
    /// A line a running tool wrote (without the newline).
    Line {
        /// Its stream.
        stream: Stream,
        /// The text.
        text: &'a str,
    },
    /// A conda-family transaction as the tool reported it at its end.
    Transaction {
        /// Packages linked into the environment.
        linked: &'a [PackageRecord],
        /// How many packages were downloaded.
        fetched: usize,
    },
    /// Something the user should know that changes nothing (e.g. why pip is used, not uv).
    Notice(&'a str),
}

/// Receives progress events; implementations must be cheap (they run on the caller's thread).
pub trait Progress {
    /// One event.
    fn event(&self, event: &Event<'_>);
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _event: &Event<'_>) {}
}

/// Adapts a [`Progress`] to the process runner's observer: the command line, then every
/// line of stderr, and of stdout unless the tool's stdout is a machine document (conda's
/// `--json`), which would mean nothing to a person.
pub struct LineForwarder<'a> {
    progress: &'a dyn Progress,
    stdout: bool,
}

impl<'a> LineForwarder<'a> {
    /// Forwards both streams (pip, uv).
    pub fn all(progress: &'a dyn Progress) -> LineForwarder<'a> {
        LineForwarder {
            progress,
            stdout: true,
        }
    }

    /// Forwards stderr only (conda-family tools in `--json` mode).
    pub fn stderr_only(progress: &'a dyn Progress) -> LineForwarder<'a> {
        LineForwarder {
            progress,
            stdout: false,
        }
    }
}

impl ProcessObserver for LineForwarder<'_> {
    fn command(&self, cmd: &ToolCommand) {
        self.progress.event(&Event::Command(cmd));
    }

    fn stdout_line(&self, line: &str) {
        if self.stdout {
            self.progress.event(&Event::Line {
                stream: Stream::Stdout,
                text: line,
            });
        }
    }

    fn stderr_line(&self, line: &str) {
        self.progress.event(&Event::Line {
            stream: Stream::Stderr,
            text: line,
        });
    }
}

/// Reports what a conda-family transaction linked and fetched (nothing for an empty one).
pub fn report_transaction(progress: &dyn Progress, t: &Transaction) {
    if !t.link.is_empty() || !t.fetch.is_empty() {
        progress.event(&Event::Transaction {
            linked: &t.link,
            fetched: t.fetch.len(),
        });
    }
}
