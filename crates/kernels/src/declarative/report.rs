//! The problems found in a kernels.toml, each placed at its line and column, and the wording
//! shared by the checks (unknown keys and values with a "did you mean").

use std::ops::Range;
use std::path::Path;

use toml::de::DeValue;

use super::{FileError, FileErrors};

/// Where relative paths resolve and what `~` means.
pub(super) struct Context<'a> {
    /// The file's name as shown in messages.
    pub shown: &'a Path,
    /// The file's directory (relative paths resolve against it).
    pub base: &'a Path,
    /// The home directory `~` expands to.
    pub home: Option<&'a Path>,
}

/// The problems found so far in one file.
pub(super) struct Report<'a> {
    /// The file's text (for positions and for quoting a value back in a hint).
    pub text: &'a str,
    /// The file's name and directories.
    pub ctx: &'a Context<'a>,
    errors: Vec<FileError>,
}

impl<'a> Report<'a> {
    pub fn new(text: &'a str, ctx: &'a Context<'a>) -> Self {
        Report {
            text,
            ctx,
            errors: Vec::new(),
        }
    }

    /// Whether nothing is wrong so far.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }

    /// Every problem, in file order.
    pub fn finish(mut self) -> FileErrors {
        self.errors.sort_by_key(|e| (e.line, e.column));
        FileErrors {
            path: self.ctx.shown.to_path_buf(),
            errors: self.errors,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    /// The value written at `span`, as in the file (for hints that quote it).
    pub fn raw(&self, span: Range<usize>) -> &'a str {
        self.text.get(span).unwrap_or("").trim()
    }

    /// Records a problem at the start of `span`.
    pub fn error(
        &mut self,
        span: Range<usize>,
        field: Option<String>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let (line, column) = self.line_col(span.start);
        self.errors.push(FileError {
            line,
            column,
            field,
            message: message.into(),
            hint,
        });
    }

    /// A key that is none of `known`, written at `span` in the table called `table` (none for
    /// the top level).
    pub fn unknown_key(
        &mut self,
        span: Range<usize>,
        table: Option<&str>,
        key: &str,
        known: &[&str],
    ) {
        let close = kernelspec::closest(key, known.iter().copied(), 1);
        let hint = match close.first() {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("known keys: {}", known.join(", ")),
        };
        let (field, what) = match table {
            Some(table) => (format!("{table}.{key}"), "key"),
            None => (key.to_string(), "top-level key"),
        };
        self.error(
            span,
            Some(field),
            format!("unknown {what} `{key}`"),
            Some(hint),
        );
    }

    /// A value that is none of `choices`.
    pub fn bad_choice(
        &mut self,
        span: Range<usize>,
        field: Option<String>,
        got: &str,
        choices: &[&str],
    ) {
        let hint = match kernelspec::closest(got, choices.iter().copied(), 1).first() {
            Some(best) => format!("did you mean \"{best}\"? (one of: {})", choices.join(", ")),
            None => format!("one of: {}", choices.join(", ")),
        };
        self.error(span, field, format!("unknown value {got:?}"), Some(hint));
    }
}

/// "a string", "an integer", ...: the TOML type of a value, for "found ..." in messages.
pub(super) fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}
