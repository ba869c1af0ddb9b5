//! Notebook rebinding: point notebooks that ask for kernel OLD at kernel NEW by rewriting
//! `metadata.kernelspec` (`name`, `display_name`, `language`) of `.ipynb` files — and nothing
//! else in them.
//!
//! The file is never re-serialised. A small JSON scanner (the private `scan` module) finds
//! the byte ranges of the kernelspec's values and only those bytes are replaced, in the
//! notebook's own style (nbformat writes one-space indents, sorted keys, `": "` separators and
//! raw UTF-8); outputs, cell ids, key order and the trailing newline stay byte-for-byte as
//! they were. Files are replaced atomically (temp file in the same directory, then rename)
//! with their permission bits and owner kept.
//!
//! Which notebooks match: those whose `metadata.kernelspec.name` equals OLD compared
//! ASCII-case-insensitively (Jupyter lowercases kernel names when it looks them up).
//!
//! ```
//! use kernels::rebind::{rebind_bytes, BindTo, Verdict};
//!
//! let nb = "{\n \"metadata\": {\n  \"kernelspec\": {\n   \"display_name\": \"Python 3.8 - AzureML\",\n   \"language\": \"python\",\n   \"name\": \"python38-azureml\"\n  }\n },\n \"nbformat\": 4\n}\n";
//! let to = BindTo { name: "py310".into(), display_name: "Python 3.10".into(), language: "python".into() };
//! let edit = rebind_bytes(nb.as_bytes(), "Python38-AzureML", &to).unwrap();
//! assert!(matches!(edit.verdict, Verdict::Rebind { .. }));
//! let new = String::from_utf8(edit.new_bytes.unwrap()).unwrap();
//! assert!(new.contains("\"name\": \"py310\""));
//! assert!(new.ends_with("\"nbformat\": 4\n}\n"));
//! ```

mod scan;

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use scan::ScanError;
use scan::{last_member, Member, Scanner};

/// Largest notebook read, in bytes (notebooks with embedded outputs reach tens of MiB).
pub const MAX_NOTEBOOK_BYTES: u64 = 512 * 1024 * 1024;

/// The kernelspec metadata a matching notebook gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BindTo {
    /// Kernel name (`metadata.kernelspec.name`).
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Language (`python`, `R`, ...).
    pub language: String,
}

/// What rebinding decided for one notebook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Verdict {
    /// The notebook asks for OLD and is (or would be) rebound.
    Rebind {
        /// The kernel name it asked for.
        from_name: String,
        /// The display name it had, if any.
        from_display_name: Option<String>,
    },
    /// It already asks for NEW with the same display name and language.
    AlreadyBound,
    /// It asks for another kernel; untouched.
    OtherKernel {
        /// The name it asks for (raw JSON text when not a string).
        name: String,
    },
    /// It has no `metadata.kernelspec`; untouched.
    NoKernelspec,
}

impl Verdict {
    /// Whether the file is (or would be) changed.
    pub fn changes(&self) -> bool {
        matches!(self, Verdict::Rebind { .. })
    }
}

/// The decision for one document and, when it changes, its new bytes.
#[derive(Debug, Clone)]
pub struct Edit {
    /// What was decided.
    pub verdict: Verdict,
    /// The rewritten document, when [`Verdict::Rebind`].
    pub new_bytes: Option<Vec<u8>>,
}

/// Why a notebook could not be examined or rewritten.
#[derive(Debug, thiserror::Error)]
pub enum RebindError {
    /// A path given does not exist.
    #[error("{} does not exist", .path.display())]
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// A directory could not be walked.
    #[error("searching {} for notebooks", .path.display())]
    Walk {
        /// The directory (or entry) being walked.
        path: PathBuf,
        /// The cause.
        #[source]
        source: walkdir::Error,
    },
    /// The notebook could not be read.
    #[error("reading notebook {}", .path.display())]
    Read {
        /// The notebook.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON.
    #[error("notebook {} is not valid JSON", .path.display())]
    Json {
        /// The notebook.
        path: PathBuf,
        /// Where and what.
        #[source]
        source: ScanError,
    },
    /// The file is JSON but not a notebook.
    #[error("{} is not a notebook: {what}", .path.display())]
    NotANotebook {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: &'static str,
    },
    /// The rewritten notebook could not be written.
    #[error("writing notebook {}", .path.display())]
    Write {
        /// The notebook.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Why a document cannot be rebound (no path yet; [`rebind_file`] adds it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocError {
    /// Not JSON.
    #[error(transparent)]
    Json(#[from] ScanError),
    /// JSON, but not shaped like a notebook.
    #[error("{0}")]
    Shape(&'static str),
}

/// Decides and, for a match, computes the rewritten bytes of one notebook document.
///
/// `from` is compared with `metadata.kernelspec.name` ASCII-case-insensitively. Only the
/// values of `name`, `display_name` and `language` inside `metadata.kernelspec` change; a
/// missing `display_name`/`language` is added in sorted-key position in the object's own
/// layout; other kernelspec keys are kept as they are.
pub fn rebind_bytes(bytes: &[u8], from: &str, to: &BindTo) -> Result<Edit, DocError> {
    if std::str::from_utf8(bytes).is_err() {
        return Err(DocError::Shape("the file is not UTF-8 text"));
    }
    let mut scanner = Scanner::at(bytes, 0);
    scanner.ws();
    if bytes.get(scanner.pos()) != Some(&b'{') {
        // Validate first so a non-JSON file is reported as such.
        let mut check = Scanner::at(bytes, 0);
        check.value()?;
        check.end()?;
        return Err(DocError::Shape("the top level is not an object"));
    }
    let (root, _) = scanner.object()?;
    scanner.end()?;
    let untouched = |verdict| Edit {
        verdict,
        new_bytes: None,
    };
    let Some(meta) = last_member(&root, "metadata") else {
        return Ok(untouched(Verdict::NoKernelspec));
    };
    if bytes[meta.value_span.start] != b'{' {
        return Err(DocError::Shape("metadata is not an object"));
    }
    let (meta_members, _) = Scanner::at(bytes, meta.value_span.start).object()?;
    let Some(ks) = last_member(&meta_members, "kernelspec") else {
        return Ok(untouched(Verdict::NoKernelspec));
    };
    if bytes[ks.value_span.start] != b'{' {
        return Ok(untouched(Verdict::NoKernelspec));
    }
    let (members, obj_span) = Scanner::at(bytes, ks.value_span.start).object()?;
    let string_of = |key: &str| -> Option<String> {
        let m = last_member(&members, key)?;
        Scanner::at(bytes, m.value_span.start).string().ok()
    };
    let name = match last_member(&members, "name") {
        None => return Ok(untouched(Verdict::NoKernelspec)),
        Some(m) => match Scanner::at(bytes, m.value_span.start).string() {
            Ok(s) => s,
            Err(_) => {
                return Ok(untouched(Verdict::OtherKernel {
                    name: text(bytes, &m.value_span),
                }))
            }
        },
    };
    let display = string_of("display_name");
    let language = string_of("language");
    let same_as_target = name == to.name
        && display.as_deref() == Some(to.display_name.as_str())
        && language.as_deref() == Some(to.language.as_str());
    if same_as_target {
        return Ok(untouched(Verdict::AlreadyBound));
    }
    if !name.eq_ignore_ascii_case(from) {
        return Ok(untouched(if name == to.name {
            Verdict::AlreadyBound
        } else {
            Verdict::OtherKernel { name }
        }));
    }

    let wanted = [
        ("display_name", to.display_name.as_str()),
        ("language", to.language.as_str()),
        ("name", to.name.as_str()),
    ];
    let all_present = wanted
        .iter()
        .all(|(k, _)| last_member(&members, k).is_some());
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    if all_present {
        for (key, value) in wanted {
            if let Some(m) = last_member(&members, key) {
                edits.push((m.value_span.clone(), encode(value)));
            }
        }
    } else {
        let rendered = render_object(bytes, &members, obj_span.clone(), ks, &wanted);
        edits.push((obj_span, rendered));
    }
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = bytes.to_vec();
    for (range, replacement) in edits {
        out.splice(range, replacement.into_bytes());
    }
    Ok(Edit {
        verdict: Verdict::Rebind {
            from_name: name,
            from_display_name: display,
        },
        new_bytes: Some(out),
    })
}

fn text(bytes: &[u8], span: &Range<usize>) -> String {
    String::from_utf8_lossy(&bytes[span.clone()]).into_owned()
}

/// A JSON string as Python's `json.dumps(..., ensure_ascii=False)` writes it (serde_json
/// escapes the same characters: `"`, `\`, and control characters).
fn encode(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "\"\"".to_string())
}

/// Re-renders the kernelspec object with the wanted keys set, keys sorted (nbformat's order),
/// in the object's own layout (multi-line with its indents, or one line).
fn render_object(
    bytes: &[u8],
    members: &[Member],
    obj_span: Range<usize>,
    ks: &Member,
    wanted: &[(&str, &str)],
) -> String {
    let obj = &bytes[obj_span.clone()];
    // Separator between a key and its value, e.g. `": "` minus the quote.
    let sep = members
        .first()
        .map(|m| text(bytes, &(m.key_span.end..m.value_span.start)))
        .unwrap_or_else(|| ": ".to_string());
    // Between members, e.g. `,` or `, ` (one-line objects).
    let join = match members {
        [a, b, ..] => text(bytes, &(a.value_span.end..b.key_span.start)),
        _ => ", ".to_string(),
    };
    let mut entries: std::collections::BTreeMap<String, String> = members
        .iter()
        .map(|m| (m.key.clone(), text(bytes, &m.value_span)))
        .collect();
    for (k, v) in wanted {
        entries.insert((*k).to_string(), encode(v));
    }
    let line_indent = |at: usize| -> String {
        let line_start = bytes[..at]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        text(bytes, &(line_start..at))
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect()
    };
    let multiline = obj.contains(&b'\n') || (members.is_empty() && has_newlines(bytes));
    if !multiline {
        let body: Vec<String> = entries
            .iter()
            .map(|(k, v)| format!("{}{sep}{v}", encode(k)))
            .collect();
        return format!("{{{}}}", body.join(&join));
    }
    let (inner, closing) = match members.first() {
        Some(first) => (
            line_indent(first.key_span.start),
            line_indent(obj_span.end - 1),
        ),
        None => {
            let base = line_indent(ks.key_span.start);
            let step = if base.starts_with('\t') { "\t" } else { " " };
            (format!("{base}{step}"), base)
        }
    };
    let body: Vec<String> = entries
        .iter()
        .map(|(k, v)| format!("{inner}{}{sep}{v}", encode(k)))
        .collect();
    format!("{{\n{}\n{closing}}}", body.join(",\n"))
}

fn has_newlines(bytes: &[u8]) -> bool {
    bytes.iter().take(4096).any(|b| *b == b'\n')
}

/// The notebooks under `paths`: a file is taken as given (whatever its extension); a directory
/// is searched recursively for `*.ipynb`, skipping hidden directories (`.git`,
/// `.ipynb_checkpoints`, ...) and not following symlinked directories. Sorted, no duplicates.
/// A path that does not exist or a directory that cannot be read is an error item.
pub fn find_notebooks(paths: &[PathBuf]) -> Vec<Result<PathBuf, RebindError>> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if !path.exists() {
            errors.push(RebindError::NotFound { path: path.clone() });
            continue;
        }
        if !path.is_dir() {
            found.push(path.clone());
            continue;
        }
        let walker = walkdir::WalkDir::new(path)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
        for entry in walker {
            match entry {
                Ok(e) => {
                    let is_notebook = e.path().extension().is_some_and(|x| x == "ipynb");
                    // A symlink to a notebook file counts; to a directory it is not followed.
                    if is_notebook && e.path().is_file() {
                        found.push(e.into_path());
                    }
                }
                Err(source) => errors.push(RebindError::Walk {
                    path: source
                        .path()
                        .map_or_else(|| path.clone(), Path::to_path_buf),
                    source,
                }),
            }
        }
    }
    found.sort();
    found.dedup();
    found
        .into_iter()
        .map(Ok)
        .chain(errors.into_iter().map(Err))
        .collect()
}

/// Examines one notebook and, unless `dry_run`, rewrites it when it matches. The write is
/// atomic (temp file + rename in the notebook's directory; a symlink's target is written),
/// keeps the permission bits and, when run as root, the owner.
pub fn rebind_file(
    path: &Path,
    from: &str,
    to: &BindTo,
    dry_run: bool,
) -> Result<Verdict, RebindError> {
    let bytes = kernelspec::bounded::read_regular(path, MAX_NOTEBOOK_BYTES).map_err(|e| {
        RebindError::Read {
            path: path.to_path_buf(),
            source: e.into_io(),
        }
    })?;
    let edit = rebind_bytes(&bytes, from, to).map_err(|e| match e {
        DocError::Json(source) => RebindError::Json {
            path: path.to_path_buf(),
            source,
        },
        DocError::Shape(what) => RebindError::NotANotebook {
            path: path.to_path_buf(),
            what,
        },
    })?;
    if let (false, Some(new)) = (dry_run, &edit.new_bytes) {
        write_atomic(path, new).map_err(|source| RebindError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(edit.verdict)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let target = std::fs::canonicalize(path)?;
    let dir = target.parent().unwrap_or_else(|| Path::new("."));
    let meta = std::fs::metadata(&target)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".kernels-rebind-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().set_permissions(meta.permissions())?;
    if rustix::process::geteuid().is_root()
        && (meta.uid() != rustix::process::geteuid().as_raw()
            || meta.gid() != rustix::process::getegid().as_raw())
    {
        rustix::fs::fchown(
            tmp.as_file(),
            Some(rustix::fs::Uid::from_raw(meta.uid())),
            Some(rustix::fs::Gid::from_raw(meta.gid())),
        )?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(&target).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to() -> BindTo {
        BindTo {
            name: "py310".into(),
            display_name: "Python 3.10 (é)".into(),
            language: "python".into(),
        }
    }

    const NB: &str = "{\n \"cells\": [\n  {\n   \"cell_type\": \"code\",\n   \"execution_count\": 1,\n   \"id\": \"a1\",\n   \"metadata\": {},\n   \"outputs\": [],\n   \"source\": [\n    \"print(\\\"kernelspec\\\")\"\n   ]\n  }\n ],\n \"metadata\": {\n  \"kernelspec\": {\n   \"display_name\": \"Python 3.8 - AzureML\",\n   \"language\": \"python\",\n   \"name\": \"python38-azureml\"\n  },\n  \"language_info\": {\n   \"name\": \"python\"\n  }\n },\n \"nbformat\": 4,\n \"nbformat_minor\": 5\n}\n";

    #[test]
    fn rewrites_only_the_three_values() {
        let edit = rebind_bytes(NB.as_bytes(), "PYTHON38-AZUREML", &to()).unwrap();
        assert_eq!(
            edit.verdict,
            Verdict::Rebind {
                from_name: "python38-azureml".into(),
                from_display_name: Some("Python 3.8 - AzureML".into())
            }
        );
        let new = String::from_utf8(edit.new_bytes.unwrap()).unwrap();
        let expected = NB
            .replace("\"Python 3.8 - AzureML\"", "\"Python 3.10 (é)\"")
            .replace("\"name\": \"python38-azureml\"", "\"name\": \"py310\"");
        assert_eq!(new, expected);
    }

    #[test]
    fn other_kernels_and_missing_metadata_are_untouched() {
        let other = NB.replace("python38-azureml", "r-stats");
        let e = rebind_bytes(other.as_bytes(), "python38-azureml", &to()).unwrap();
        assert_eq!(
            e.verdict,
            Verdict::OtherKernel {
                name: "r-stats".into()
            }
        );
        assert!(e.new_bytes.is_none());
        for doc in [
            "{}",
            "{\"metadata\": {}}",
            "{\"metadata\": {\"kernelspec\": null}}",
        ] {
            let e = rebind_bytes(doc.as_bytes(), "x", &to()).unwrap();
            assert_eq!(e.verdict, Verdict::NoKernelspec, "{doc}");
        }
    }

    #[test]
    fn a_second_run_finds_it_already_bound() {
        let once = rebind_bytes(NB.as_bytes(), "python38-azureml", &to()).unwrap();
        let bytes = once.new_bytes.unwrap();
        let twice = rebind_bytes(&bytes, "python38-azureml", &to()).unwrap();
        assert_eq!(twice.verdict, Verdict::AlreadyBound);
        assert!(twice.new_bytes.is_none());
    }

    #[test]
    fn missing_language_is_added_in_sorted_position_and_layout() {
        let nb = NB.replace("   \"language\": \"python\",\n", "");
        let e = rebind_bytes(nb.as_bytes(), "python38-azureml", &to()).unwrap();
        let new = String::from_utf8(e.new_bytes.unwrap()).unwrap();
        assert!(
            new.contains("  \"kernelspec\": {\n   \"display_name\": \"Python 3.10 (é)\",\n   \"language\": \"python\",\n   \"name\": \"py310\"\n  },\n"),
            "{new}"
        );
        let compact = r#"{"metadata":{"kernelspec":{"name":"OLD","env":{"A":"1"}}},"nbformat":4}"#;
        let e = rebind_bytes(compact.as_bytes(), "old", &to()).unwrap();
        assert_eq!(
            String::from_utf8(e.new_bytes.unwrap()).unwrap(),
            r#"{"metadata":{"kernelspec":{"display_name":"Python 3.10 (é)","env":{"A":"1"},"language":"python","name":"py310"}},"nbformat":4}"#
        );
    }

    #[test]
    fn special_characters_are_escaped_like_python() {
        let t = BindTo {
            name: "x".into(),
            display_name: "a \"q\" \\ \u{1} ü".into(),
            language: "python".into(),
        };
        let e = rebind_bytes(NB.as_bytes(), "python38-azureml", &t).unwrap();
        let new = String::from_utf8(e.new_bytes.unwrap()).unwrap();
        assert!(
            new.contains(r#""display_name": "a \"q\" \\ \u0001 ü","#),
            "{new}"
        );
    }

    #[test]
    fn broken_files_are_errors_not_panics() {
        for bad in ["", "[1]", "{\"metadata\": 3}", "{\"a\": }", "{} x"] {
            assert!(rebind_bytes(bad.as_bytes(), "x", &to()).is_err(), "{bad:?}");
        }
        assert!(rebind_bytes(&[b'{', 0xff, b'}'], "x", &to()).is_err());
    }
}
