//! Rendering: data on stdout (a table or one JSON document), everything else on stderr.
//!
//! Colour is used only when allowed (`--color`, `NO_COLOR`, a terminal) and never in JSON.

use std::io::{IsTerminal, Write};

use crate::cli::{ColorChoice, GlobalArgs};

/// The environment variable that turns colour off (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";

/// How the user wants to be talked to.
#[derive(Debug, Clone)]
pub struct Out {
    /// One JSON document on stdout.
    pub json: bool,
    /// Only errors on stderr.
    pub quiet: bool,
    /// Extra detail on stderr.
    pub verbose: u8,
    color_stdout: bool,
    color_stderr: bool,
}

/// A text style.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    /// Bold.
    Bold,
    /// Green: healthy.
    Good,
    /// Yellow: a warning.
    Warn,
    /// Red: broken or an error.
    Bad,
    /// Dim: secondary facts.
    Dim,
}

impl Out {
    /// Builds the printer from the global options and the process environment.
    pub fn new(global: &GlobalArgs) -> Out {
        let no_color = std::env::var_os(NO_COLOR).is_some_and(|v| !v.is_empty());
        let allowed = |is_tty: bool| match global.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_tty && !no_color,
        };
        Out {
            json: global.json,
            quiet: global.quiet,
            verbose: global.verbose,
            color_stdout: !global.json && allowed(std::io::stdout().is_terminal()),
            color_stderr: allowed(std::io::stderr().is_terminal()),
        }
    }

    /// Wraps `text` in `style` for stdout, if colour is on.
    pub fn paint(&self, style: Style, text: &str) -> String {
        paint(self.color_stdout, style, text)
    }

    /// Prints a line of data on stdout.
    pub fn line(&self, text: &str) {
        self.bytes(format!("{text}\n").as_bytes());
    }

    /// Writes data on stdout as it is. When the reader has gone (`kernels list | head -1`),
    /// the run ends quietly with exit 0, as other command-line tools do: nobody is left to
    /// read the rest, and data is only printed once the work is done.
    pub fn bytes(&self, data: &[u8]) {
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(data).and_then(|()| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }

    /// Prints a JSON document on stdout (2-space indent, like Jupyter's own `--json`).
    pub fn json_doc(&self, value: &serde_json::Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".to_string());
        self.line(&text);
    }

    /// A progress step on stderr (silenced by `-q`).
    pub fn step(&self, text: &str) {
        if !self.quiet {
            eprintln!("{}", paint(self.color_stderr, Style::Dim, text));
        }
    }

    /// A status line on stderr (silenced by `-q`), e.g. "Added kernel x".
    pub fn status(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// Extra detail on stderr, only with `-v`.
    pub fn detail(&self, text: &str) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("{}", paint(self.color_stderr, Style::Dim, text));
        }
    }

    /// A warning on stderr (shown unless `-q`).
    pub fn warn(&self, text: &str) {
        if !self.quiet {
            eprintln!(
                "{} {text}",
                paint(self.color_stderr, Style::Warn, "warning:")
            );
        }
    }

    /// Asks a yes/no question on stderr and reads the answer from stdin; anything but
    /// y/yes (including EOF or a read error) is no. Callers ask only when stdin is a terminal
    /// and `--yes` was not given: nothing ever prompts in a script.
    pub fn ask_yes_no(&self, question: &str) -> bool {
        eprint!("{question} [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer).is_err() {
            return false;
        }
        matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES")
    }

    /// An error as the [`Report`](crate::report::Report) renders it, on stderr (always
    /// shown): `error:`, `Caused by:` lines, notes, `hint:`; with `-v`, each failed tool's
    /// whole output after it.
    pub fn report(&self, report: &crate::report::Report) {
        let mut err = std::io::stderr().lock();
        let bad = paint(self.color_stderr, Style::Bad, "error:");
        let _ = writeln!(err, "{bad} {}", report.headline);
        for line in &report.headline_detail {
            let _ = writeln!(err, "  {}", line.trim_start());
        }
        for cause in &report.causes {
            let _ = writeln!(
                err,
                "  {} {}",
                paint(self.color_stderr, Style::Bold, "Caused by:"),
                cause.text
            );
            for line in &cause.detail {
                let _ = writeln!(err, "      {line}");
            }
        }
        for note in &report.notes {
            let _ = writeln!(err, "{note}");
        }
        if let Some(hint) = &report.hint {
            let _ = writeln!(
                err,
                "{} {hint}",
                paint(self.color_stderr, Style::Bold, "hint:")
            );
        }
        if self.verbose > 0 {
            for run in report.runs() {
                let _ = writeln!(err, "\n{}", run.log_text().trim_end());
            }
        }
    }

    /// An error and its hint on stderr (always shown).
    pub fn error(&self, cause: &str, hint: Option<&str>) {
        eprintln!("{} {cause}", paint(self.color_stderr, Style::Bad, "error:"));
        if let Some(hint) = hint {
            eprintln!("{} {hint}", paint(self.color_stderr, Style::Bold, "hint:"));
        }
    }
}

fn paint(enabled: bool, style: Style, text: &str) -> String {
    if !enabled || text.is_empty() {
        return text.to_string();
    }
    let code = match style {
        Style::Bold => "1",
        Style::Good => "32",
        Style::Warn => "33",
        Style::Bad => "31",
        Style::Dim => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// A path as a JSON string. Lossy: a non-UTF-8 path (possible on Linux) must not abort a
/// document, so its invalid bytes become U+FFFD.
pub fn json_path(path: &std::path::Path) -> serde_json::Value {
    serde_json::Value::String(path.to_string_lossy().into_owned())
}

/// Paths as a JSON list of strings (see [`json_path`]).
pub fn json_paths<'a>(
    paths: impl IntoIterator<Item = &'a std::path::PathBuf>,
) -> serde_json::Value {
    serde_json::Value::Array(paths.into_iter().map(|p| json_path(p)).collect())
}

/// Lays out rows as left-aligned columns separated by two spaces; the last column is not padded.
/// Widths count characters, so non-ASCII display names line up.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let render = |cells: &mut dyn Iterator<Item = &str>| {
        let mut line = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 < columns {
                line.push_str(cell);
                let pad = widths[i] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            } else {
                line.push_str(cell);
            }
        }
        line.trim_end().to_string()
    };
    let mut lines = vec![render(&mut header.iter().copied())];
    for row in rows {
        lines.push(render(&mut row.iter().map(String::as_str)));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_all_but_the_last_column() {
        let rows = vec![
            vec!["a".to_string(), "Python (é)".to_string(), "ok".to_string()],
            vec![
                "longer".to_string(),
                "R".to_string(),
                "broken: x".to_string(),
            ],
        ];
        let lines = table(&["NAME", "DISPLAY", "STATUS"], &rows);
        assert_eq!(lines[0], "NAME    DISPLAY     STATUS");
        assert_eq!(lines[1], "a       Python (é)  ok");
        assert_eq!(lines[2], "longer  R           broken: x");
    }

    #[test]
    fn paint_is_identity_without_colour() {
        assert_eq!(paint(false, Style::Bad, "x"), "x");
        assert_eq!(paint(true, Style::Bad, "x"), "\x1b[31mx\x1b[0m");
    }
}
