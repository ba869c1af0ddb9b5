//! Validated kernel names.
//!
//! Jupyter matches names with `^[a-z0-9._\-]+$` under `re.IGNORECASE`, which has three
//! quirks we deliberately do not copy: `$` also matches before a trailing newline
//! (`"abc\n"` passes), Unicode case folding lets `K` (KELVIN SIGN), `ſ`, `ı` and `İ` pass, and
//! `.`/`..` pass (so a name could point outside the kernels directory). Here a name is
//! lowercased first (as Jupyter does on install and discovery) and must then be 1 to 255 ASCII
//! bytes from `[a-z0-9._-]`, and not `.` or `..`.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// Jupyter's own wording of the kernel name rule, word for word.
pub const NAME_RULE: &str = "Kernel names can only contain ASCII letters and numbers and these separators: - . _ (hyphen, period, and underscore).";

/// The longest kernel name accepted, in bytes (a common file name limit).
pub const MAX_NAME_LEN: usize = 255;

/// A kernel name that is safe to use as a directory name under a `kernels` directory.
///
/// Always lowercase; see the module docs for the rule.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelName(String);

/// Why a string is not a valid kernel name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    /// What is wrong, in a few words (e.g. "is empty").
    pub what: NameProblem,
    /// The string as given (before lowercasing).
    pub input: String,
}

/// The specific way a name breaks the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// The name is the empty string.
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    TooLong,
    /// The name is `.` or `..`, which would name the kernels directory or its parent.
    DotName,
    /// The name contains a character outside `[A-Za-z0-9._-]`.
    BadChar(char),
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Empty => f.write_str("it is empty"),
            NameProblem::TooLong => write!(f, "it is longer than {MAX_NAME_LEN} bytes"),
            NameProblem::DotName => f.write_str("'.' and '..' are not allowed"),
            NameProblem::BadChar(c) => write!(f, "it contains {c:?}"),
        }
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid kernel name {:?} ({}). {NAME_RULE}",
            self.input, self.what
        )
    }
}

impl std::error::Error for NameError {}

/// Check an already lowercased candidate against the rule.
pub(crate) fn check(lower: &str) -> Result<(), NameProblem> {
    if lower.is_empty() {
        return Err(NameProblem::Empty);
    }
    if let Some(c) = lower
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(NameProblem::BadChar(c));
    }
    if lower.len() > MAX_NAME_LEN {
        return Err(NameProblem::TooLong);
    }
    if lower == "." || lower == ".." {
        return Err(NameProblem::DotName);
    }
    Ok(())
}

/// Whether `name` (lowercased first) is a valid kernel name.
pub fn is_valid_name(name: &str) -> bool {
    check(&name.to_ascii_lowercase()).is_ok()
}

impl KernelName {
    /// Lowercase `s` (ASCII only) and validate it.
    ///
    /// ```
    /// use kernelspec::KernelName;
    /// assert_eq!(KernelName::parse("My-Env").unwrap().as_str(), "my-env");
    /// assert!(KernelName::parse("../x").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<KernelName, NameError> {
        let lower = s.to_ascii_lowercase();
        match check(&lower) {
            Ok(()) => Ok(KernelName(lower)),
            Err(what) => Err(NameError {
                what,
                input: s.to_owned(),
            }),
        }
    }

    /// The name as a string slice (always lowercase).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KernelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KernelName({:?})", self.0)
    }
}

impl fmt::Display for KernelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for KernelName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KernelName::parse(s)
    }
}

impl AsRef<str> for KernelName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for KernelName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}
