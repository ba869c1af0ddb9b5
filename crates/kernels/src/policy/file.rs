//! The policy file format (`policy.json`), read leniently entry by entry and written back
//! atomically with everything it held (unknown keys, entries we could not read) preserved.
//!
//! ```json
//! {
//!   "version": 1,
//!   "kernels": [{"name": "python38-azureml", "required": true, "reason": "the image's kernel"}],
//!   "display_names": [{"name": "Python 3.8 - AzureML"}],
//!   "envs": [{"name": "azureml_py38"}, {"path": "/anaconda/envs/jupyter-env", "required": true}]
//! }
//! ```
//!
//! * `version` is 1; a file without it is read as version 1; a higher version is read for the
//!   entries this version understands, with a warning.
//! * Every entry protects what it names; `required: true` (what `kernels protect` writes)
//!   also makes `kernels doctor` report it when it is missing. `reason` is shown in refusals.
//! * Kernel names match case-insensitively (Jupyter lowercases them); display names match
//!   exactly after trimming; env names match exactly; env paths match after resolving symlinks.
//! * An env entry has exactly one of `name` and `path`; an entry that cannot be read is
//!   skipped with a warning, and the rest of the file still applies.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{Entry, Source, Target};

/// The file format version this build writes.
pub const POLICY_VERSION: u64 = 1;

/// Largest policy file read, in bytes; real ones are a few KiB.
pub const MAX_POLICY_BYTES: u64 = 4 * 1024 * 1024;

/// Why a policy file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PolicyFileError {
    /// The file could not be read.
    #[error("failed to read the policy file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The path is not a regular file (a FIFO, a device, a directory).
    #[error("the policy file {path} is {kind}, not a regular file")]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: kernelspec::bounded::FileKind,
    },
    /// The file is larger than [`MAX_POLICY_BYTES`].
    #[error("the policy file {path} is larger than {MAX_POLICY_BYTES} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The file is not a JSON object of the expected shape.
    #[error("the policy file {path} is not valid: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Writing failed.
    #[error("failed to {action} {path}")]
    Write {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A policy file as read: its entries, the warnings about entries that were skipped, and the
/// whole document (kept so a rewrite loses nothing).
#[derive(Debug, Clone)]
pub struct PolicyDoc {
    /// The entries this version understands.
    pub entries: Vec<Entry>,
    /// Entries skipped and other oddities, one sentence each.
    pub warnings: Vec<String>,
    /// The document as read (an empty version-1 document for a new file).
    pub doc: Map<String, Value>,
}

/// One thing to protect, as `kernels protect` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addition {
    /// What to protect.
    pub target: Target,
    /// Whether doctor must find it present and healthy.
    pub required: bool,
}

impl PolicyDoc {
    /// An empty document.
    pub fn empty() -> PolicyDoc {
        let mut doc = Map::new();
        doc.insert("version".into(), Value::from(POLICY_VERSION));
        PolicyDoc {
            entries: Vec::new(),
            warnings: Vec::new(),
            doc,
        }
    }

    /// Reads `path`; a missing file is `Ok(None)`.
    pub fn read(path: &Path, source: &Source) -> Result<Option<PolicyDoc>, PolicyFileError> {
        use kernelspec::bounded::{read_regular, BoundedReadError};
        let bytes = match read_regular(path, MAX_POLICY_BYTES) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(BoundedReadError::TooLarge { .. }) => {
                return Err(PolicyFileError::TooLarge {
                    path: path.to_path_buf(),
                })
            }
            Err(BoundedReadError::NotRegular { kind, .. }) => {
                return Err(PolicyFileError::NotAFile {
                    path: path.to_path_buf(),
                    kind,
                })
            }
            Err(BoundedReadError::Io { source, .. }) => {
                return Err(PolicyFileError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        PolicyDoc::parse(&bytes, source)
            .map(Some)
            .map_err(|problem| PolicyFileError::Invalid {
                path: path.to_path_buf(),
                problem,
            })
    }

    /// Parses a document; entries are attributed to `source`.
    pub fn parse(bytes: &[u8], source: &Source) -> Result<PolicyDoc, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 ({e})"))?;
        let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let Value::Object(doc) = value else {
            return Err("the top level is not a JSON object".to_string());
        };
        let mut warnings = Vec::new();
        match doc.get("version") {
            None => {}
            Some(Value::Number(n)) if n.as_u64() == Some(POLICY_VERSION) => {}
            Some(Value::Number(n)) if n.as_u64().is_some_and(|v| v > POLICY_VERSION) => warnings
                .push(format!(
                    "version {n} is newer than this kernels understands ({POLICY_VERSION}); \
                     only the entries it understands apply"
                )),
            Some(other) => return Err(format!("`version` must be {POLICY_VERSION}, not {other}")),
        }
        let mut entries = Vec::new();
        for (key, kind) in [
            ("kernels", EntryKind::Kernel),
            ("display_names", EntryKind::DisplayName),
            ("envs", EntryKind::Env),
        ] {
            match doc.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        match read_entry(item, kind, source) {
                            Ok(entry) => entries.push(entry),
                            Err(why) => warnings.push(format!("{key}[{i}] skipped: {why}")),
                        }
                    }
                }
                Some(_) => return Err(format!("`{key}` must be a list")),
            }
        }
        Ok(PolicyDoc {
            entries,
            warnings,
            doc,
        })
    }

    /// Adds `additions` that are not there yet (and turns `required` on for those already
    /// there without it). Returns how many entries were added or changed.
    pub fn add(&mut self, additions: &[Addition]) -> usize {
        let mut changed = 0;
        for addition in additions {
            let key = match &addition.target {
                Target::Kernel(_) => "kernels",
                Target::DisplayName(_) => "display_names",
                Target::EnvName(_) | Target::EnvPath(_) | Target::CondaBase => "envs",
            };
            let Some(fields) = entry_fields(&addition.target) else {
                continue;
            };
            let list = self
                .doc
                .entry(key.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if !list.is_array() {
                *list = Value::Array(Vec::new());
            }
            let Value::Array(items) = list else { continue };
            let existing = items
                .iter_mut()
                .find(|item| same_target(item, &addition.target));
            match existing {
                Some(Value::Object(obj)) => {
                    let required = obj
                        .get("required")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    if addition.required && !required {
                        obj.insert("required".into(), Value::Bool(true));
                        changed += 1;
                    }
                }
                _ => {
                    let mut obj = fields;
                    if addition.required {
                        obj.insert("required".into(), Value::Bool(true));
                    }
                    items.push(Value::Object(obj));
                    changed += 1;
                }
            }
        }
        if changed > 0 {
            self.doc
                .entry("version".to_string())
                .or_insert(Value::from(POLICY_VERSION));
        }
        changed
    }

    /// The document as written: 2-space indented JSON and a final newline.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(&Value::Object(self.doc.clone()))
            .unwrap_or_else(|_| "{}".to_string());
        text.push('\n');
        text
    }

    /// Writes the document to `path` atomically (a temp file in the same directory, synced,
    /// then renamed over), creating the directory if needed. The file is mode 0644.
    pub fn write(&self, path: &Path) -> Result<(), PolicyFileError> {
        let err = |action: &'static str, p: &Path| {
            let p = p.to_path_buf();
            move |source| PolicyFileError::Write {
                action,
                path: p,
                source,
            }
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(err("create the directory", dir))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".policy.json.")
            .tempfile_in(dir)
            .map_err(err("create a temporary file in", dir))?;
        tmp.write_all(self.to_text().as_bytes())
            .map_err(err("write", tmp.path()))?;
        tmp.as_file().sync_all().map_err(err("sync", tmp.path()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))
                .map_err(err("set permissions on", tmp.path()))?;
        }
        tmp.persist(path).map_err(|e| PolicyFileError::Write {
            action: "replace",
            path: path.to_path_buf(),
            source: e.error,
        })?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum EntryKind {
    Kernel,
    DisplayName,
    Env,
}

fn read_entry(item: &Value, kind: EntryKind, source: &Source) -> Result<Entry, String> {
    let Value::Object(obj) = item else {
        return Err("not a JSON object".to_string());
    };
    let text = |key: &str| -> Result<Option<String>, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(Value::String(_)) => Err(format!("`{key}` is empty")),
            Some(other) => Err(format!("`{key}` must be a string, not {other}")),
        }
    };
    let required = match obj.get("required") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(format!("`required` must be true or false, not {other}")),
    };
    let reason = text("reason")?;
    let target = match kind {
        EntryKind::Kernel => {
            let name = text("name")?.ok_or("it has no `name`")?;
            if name.contains('/') || name.contains('\0') {
                return Err(format!("{name:?} is not a kernel name"));
            }
            Target::Kernel(name.to_ascii_lowercase())
        }
        EntryKind::DisplayName => {
            Target::DisplayName(text("name")?.ok_or("it has no `name`")?.trim().to_string())
        }
        EntryKind::Env => match (text("name")?, text("path")?) {
            (Some(name), None) => Target::EnvName(name),
            (None, Some(path)) => {
                let path = PathBuf::from(path);
                if !path.is_absolute() {
                    return Err(format!("`path` {} is not absolute", path.display()));
                }
                Target::EnvPath(path)
            }
            (Some(_), Some(_)) => return Err("it has both `name` and `path`".to_string()),
            (None, None) => return Err("it has neither `name` nor `path`".to_string()),
        },
    };
    Ok(Entry {
        target,
        required,
        source: source.clone(),
        reason,
    })
}

/// The JSON fields that name `target` in a file (`None` for targets files cannot hold).
fn entry_fields(target: &Target) -> Option<Map<String, Value>> {
    let mut obj = Map::new();
    match target {
        Target::Kernel(n) | Target::DisplayName(n) | Target::EnvName(n) => {
            obj.insert("name".into(), Value::String(n.clone()));
        }
        Target::EnvPath(p) => {
            obj.insert(
                "path".into(),
                Value::String(p.to_string_lossy().into_owned()),
            );
        }
        Target::CondaBase => return None,
    }
    Some(obj)
}

fn same_target(item: &Value, target: &Target) -> bool {
    let field = |k: &str| item.get(k).and_then(Value::as_str);
    match target {
        Target::Kernel(n) => field("name").is_some_and(|v| v.eq_ignore_ascii_case(n)),
        Target::DisplayName(n) => field("name").is_some_and(|v| v.trim() == n),
        Target::EnvName(n) => field("name") == Some(n.as_str()) && field("path").is_none(),
        Target::EnvPath(p) => field("path").is_some_and(|v| Path::new(v) == p),
        Target::CondaBase => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Source {
        Source::User(PathBuf::from("/h/.config/kernels/policy.json"))
    }

    #[test]
    fn parses_every_entry_kind() {
        let doc = PolicyDoc::parse(
            br#"{"version": 1,
                "kernels": [{"name": "Python38-AzureML", "required": true, "reason": "image"}],
                "display_names": [{"name": " Python 3.8 - AzureML "}],
                "envs": [{"name": "azureml_py38"}, {"path": "/anaconda/envs/jupyter-env", "required": true}],
                "future_key": {"kept": true}}"#,
            &user(),
        )
        .unwrap();
        assert!(doc.warnings.is_empty(), "{:?}", doc.warnings);
        let targets: Vec<&Target> = doc.entries.iter().map(|e| &e.target).collect();
        assert_eq!(
            targets,
            vec![
                &Target::Kernel("python38-azureml".into()),
                &Target::DisplayName("Python 3.8 - AzureML".into()),
                &Target::EnvName("azureml_py38".into()),
                &Target::EnvPath("/anaconda/envs/jupyter-env".into()),
            ]
        );
        assert!(doc.entries[0].required);
        assert_eq!(doc.entries[0].reason.as_deref(), Some("image"));
        assert!(!doc.entries[1].required);
        assert!(doc.to_text().contains("future_key"));
    }

    #[test]
    fn bad_entries_are_skipped_not_the_file() {
        let doc = PolicyDoc::parse(
            br#"{"kernels": [{"name": 3}, "x", {"name": "ok"}, {"name": "a/b"}],
                "envs": [{"name": "a", "path": "/b"}, {}, {"path": "rel"}, {"name": "e", "required": "yes"}]}"#,
            &user(),
        )
        .unwrap();
        assert_eq!(doc.entries.len(), 1);
        assert_eq!(doc.warnings.len(), 7, "{:?}", doc.warnings);
    }

    #[test]
    fn whole_file_errors() {
        for bad in [
            &b"[]"[..],
            b"{",
            b"{\"version\": \"1\"}",
            b"{\"kernels\": {}}",
            b"\xff",
        ] {
            assert!(
                PolicyDoc::parse(bad, &user()).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let newer =
            PolicyDoc::parse(br#"{"version": 7, "kernels": [{"name": "k"}]}"#, &user()).unwrap();
        assert_eq!(newer.entries.len(), 1);
        assert_eq!(newer.warnings.len(), 1);
    }

    #[test]
    fn add_is_idempotent_and_upgrades_required() {
        let mut doc =
            PolicyDoc::parse(br#"{"kernels": [{"name": "A"}], "x": 1}"#, &user()).unwrap();
        let adds = vec![
            Addition {
                target: Target::Kernel("a".into()),
                required: true,
            },
            Addition {
                target: Target::EnvPath("/e".into()),
                required: true,
            },
        ];
        assert_eq!(doc.add(&adds), 2);
        assert_eq!(doc.add(&adds), 0);
        let again = PolicyDoc::parse(doc.to_text().as_bytes(), &user()).unwrap();
        assert_eq!(again.entries.len(), 2);
        assert!(again.entries.iter().all(|e| e.required));
        assert!(again.doc.contains_key("x"));
    }

    #[test]
    fn write_is_atomic_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/policy.json");
        assert!(PolicyDoc::read(&path, &user()).unwrap().is_none());
        let mut doc = PolicyDoc::empty();
        doc.add(&[Addition {
            target: Target::EnvName("base".into()),
            required: false,
        }]);
        doc.write(&path).unwrap();
        let back = PolicyDoc::read(&path, &user()).unwrap().unwrap();
        assert_eq!(back.entries[0].target, Target::EnvName("base".into()));
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".policy"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
