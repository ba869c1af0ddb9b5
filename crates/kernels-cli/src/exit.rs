//! Exit codes and the one error type every command returns.
//!
//! The codes are part of the interface (scripts branch on them) and are documented in
//! `docs/reference/exit-codes.md`:
//!
//! | code | meaning |
//! |-----:|---------|
//! | 0    | success (also: nothing to do) |
//! | 1    | failed (a tool failed, a file could not be written, an unknown name, ...) |
//! | 2    | usage error (bad flag, invalid kernel name, bad file) |
//! | 3    | refused by the protection policy |
//! | 4    | checks found problems (`doctor`, `apply --check`) |
//! | 5    | busy: another `kernels` run holds the lock |
//! | 130  | interrupted (Ctrl-C / SIGTERM); this run's changes were undone |

use std::fmt;
use std::process::ExitCode;

/// What a run ended with, as a process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 0: success.
    Ok,
    /// 1: the operation failed.
    Failed,
    /// 2: the command line or an input file was invalid.
    Usage,
    /// 3: refused by the protection policy.
    Refused,
    /// 4: checks found problems.
    Problems,
    /// 5: another run holds the lock.
    Busy,
    /// 130: interrupted by a signal.
    Interrupted,
}

impl Code {
    /// The numeric exit status.
    pub fn as_u8(self) -> u8 {
        match self {
            Code::Ok => 0,
            Code::Failed => 1,
            Code::Usage => 2,
            Code::Refused => 3,
            Code::Problems => 4,
            Code::Busy => 5,
            Code::Interrupted => 130,
        }
    }

    /// A stable machine-readable word for `--json` output.
    pub fn word(self) -> &'static str {
        match self {
            Code::Ok => "ok",
            Code::Failed => "failed",
            Code::Usage => "usage",
            Code::Refused => "refused",
            Code::Problems => "problems",
            Code::Busy => "busy",
            Code::Interrupted => "interrupted",
        }
    }
}

impl From<Code> for ExitCode {
    fn from(code: Code) -> ExitCode {
        ExitCode::from(code.as_u8())
    }
}

/// A failure as the user sees it: one line of cause, the error it comes from (rendered as
/// `Caused by:` lines), what the run left behind, an optional hint, and an exit code.
#[derive(Debug)]
pub struct Failure {
    /// The exit code to end with.
    pub code: Code,
    /// One line saying what went wrong.
    pub cause: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// Lines shown after the causes: what a rollback undid or kept.
    pub notes: Vec<String>,
    /// The typed error behind `cause`, whose sources are the `Caused by:` lines.
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Failure {
    /// A failure with the given code and cause.
    pub fn new(code: Code, cause: impl Into<String>) -> Failure {
        Failure {
            code,
            cause: cause.into(),
            hint: None,
            notes: Vec::new(),
            source: None,
        }
    }

    /// A failure for a typed error: its message is the cause, its sources the reasons.
    pub fn from_error(code: Code, err: impl std::error::Error + Send + Sync + 'static) -> Failure {
        Failure {
            cause: err.to_string(),
            source: Some(Box::new(err)),
            ..Failure::new(code, "")
        }
    }

    /// The cause and its reasons on one line (for JSON documents and lists of failures).
    pub fn one_line(&self) -> String {
        boot::error_chain(self)
    }

    /// Exit 1.
    pub fn failed(cause: impl Into<String>) -> Failure {
        Failure::new(Code::Failed, cause)
    }

    /// Exit 2.
    pub fn usage(cause: impl Into<String>) -> Failure {
        Failure::new(Code::Usage, cause)
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a hint if there is one.
    pub fn maybe_hint(mut self, hint: Option<String>) -> Failure {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cause)
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The typed error has the same message as `cause`; its own sources are the reasons.
        self.source.as_deref().and_then(|e| e.source())
    }
}

/// Finds the exit code of an error chain: a [`Failure`] anywhere in it decides, else 1.
pub fn code_of(err: &anyhow::Error) -> Code {
    err.chain()
        .find_map(|e| e.downcast_ref::<Failure>().map(|f| f.code))
        .unwrap_or(Code::Failed)
}

/// Finds the hint of an error chain, if any.
pub fn hint_of(err: &anyhow::Error) -> Option<&str> {
    err.chain()
        .find_map(|e| e.downcast_ref::<Failure>().and_then(|f| f.hint.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_numbers() {
        let all = [
            (Code::Ok, 0),
            (Code::Failed, 1),
            (Code::Usage, 2),
            (Code::Refused, 3),
            (Code::Problems, 4),
            (Code::Busy, 5),
            (Code::Interrupted, 130),
        ];
        for (code, n) in all {
            assert_eq!(code.as_u8(), n, "{code:?}");
        }
    }

    #[test]
    fn failure_code_is_found_through_context() {
        let err = anyhow::Error::new(Failure::new(Code::Refused, "protected").hint("ask an admin"))
            .context("removing kernel x");
        assert_eq!(code_of(&err), Code::Refused);
        assert_eq!(hint_of(&err), Some("ask an admin"));
        let plain = anyhow::anyhow!("boom");
        assert_eq!(code_of(&plain), Code::Failed);
        assert_eq!(hint_of(&plain), None);
    }
}
