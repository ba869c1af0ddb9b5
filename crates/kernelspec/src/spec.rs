//! The `kernel.json` model: parsing with Jupyter's acceptance rules, the two ways of writing it
//! (`list --json` shape and the file we write), and lint facts about specs that load but will
//! not work.
//!
//! # What loads and what does not
//!
//! [`KernelSpec::from_json_bytes`] accepts exactly what jupyter_client 8.10's
//! `KernelSpec.from_resource_dir` accepts, with these documented differences:
//!
//! * `NaN`, `Infinity` and `-Infinity` (which Python's `json` accepts) load, but become `null`
//!   in our model, so `list --json` shows `null` where Jupyter shows `NaN`. A lint warning
//!   ([`SpecWarning::NonFiniteNumbers`]) says so.
//! * Nesting deeper than 128 levels is rejected ([`SpecProblem::TooDeep`]); Python's limit is
//!   about 1000. 10,000 levels fail in both.
//! * Lone UTF-16 surrogate escapes (`"\ud800"`) and numbers beyond `f64` range are rejected;
//!   Python accepts them. Integers beyond 64 bits lose precision (they become floats).
//!
//! Leniencies we copy on purpose: `argv` given as a JSON string becomes a one-element list,
//! `argv` elements and `env` values that are not strings load (Jupyter only fails at launch;
//! see [`RawFields`] and [`KernelSpec::is_launchable`]), `interrupt_mode` is matched
//! case-insensitively, duplicate keys keep the last value (at the first key's position), and
//! unknown keys are kept in [`KernelSpec::extra`] (Jupyter drops them from its output, and so
//! does [`KernelSpec::to_jupyter_json`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::pyjson;

/// Largest `kernel.json` we read, in bytes (16 MiB); real ones are under 1 KiB.
pub const MAX_SPEC_BYTES: u64 = 16 * 1024 * 1024;

/// How a frontend interrupts the kernel (`interrupt_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum InterruptMode {
    /// Send SIGINT to the kernel's process group (the default).
    #[default]
    Signal,
    /// Send an `interrupt_request` on the control channel.
    Message,
}

impl InterruptMode {
    /// Parse case-insensitively (`"MESSAGE"` is `Message`), like traitlets' `CaselessStrEnum`.
    pub fn parse(s: &str) -> Option<InterruptMode> {
        if s.eq_ignore_ascii_case("signal") {
            Some(InterruptMode::Signal)
        } else if s.eq_ignore_ascii_case("message") {
            Some(InterruptMode::Message)
        } else {
            None
        }
    }

    /// The lowercase spelling Jupyter writes.
    pub fn as_str(self) -> &'static str {
        match self {
            InterruptMode::Signal => "signal",
            InterruptMode::Message => "message",
        }
    }
}

impl fmt::Display for InterruptMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InterruptMode {
    type Err = SpecProblem;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        InterruptMode::parse(s).ok_or_else(|| SpecProblem::BadInterruptMode {
            value: format!("{s:?}"),
        })
    }
}

impl Serialize for InterruptMode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A kernel specification: the contents of one `kernel.json`.
///
/// `env` is a [`BTreeMap`], so code that builds a spec gets a deterministic, key-sorted `env`
/// in the files it writes. A loaded file whose `env` keys were in another order keeps that
/// order for rendering through [`RawFields::env`] (as long as `env` is not changed).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KernelSpec {
    /// The command line; `{connection_file}`, `{resource_dir}` and `{prefix}` are
    /// substituted at launch (see [`crate::substitute_argv`]). Non-string JSON elements are held
    /// here as their compact JSON text; see [`RawFields`].
    pub argv: Vec<String>,
    /// Name shown in frontends (`""` when absent).
    pub display_name: String,
    /// Language name, e.g. `python` or `R` (`""` when absent).
    pub language: String,
    /// How to interrupt the kernel; `signal` when absent.
    pub interrupt_mode: InterruptMode,
    /// Extra environment for the kernel; values may reference the inherited environment as
    /// `$VAR`/`${VAR}` (see [`crate::substitute_env`]). Non-string JSON values are held as their
    /// compact JSON text; see [`RawFields`].
    pub env: BTreeMap<String, String>,
    /// Free-form metadata (`debugger`, `kernel_provisioner`, ...).
    pub metadata: Map<String, Value>,
    /// `kernel_protocol_version`, if the file has it.
    pub kernel_protocol_version: Option<String>,
    /// Keys Jupyter does not model, in file order; kept when we rewrite the file.
    pub extra: Map<String, Value>,
    /// Verbatim JSON of fields that did not fit the typed model (see its docs).
    pub raw: RawFields,
}

/// What a loaded file held that the typed fields cannot show faithfully.
///
/// Jupyter loads `argv` lists with non-string elements and `env` maps with non-string values
/// (they only fail at launch) and lists them verbatim. We keep the verbatim JSON here and use it
/// for rendering ([`KernelSpec::to_jupyter_json`], [`KernelSpec::to_file_string`]) only while it
/// still agrees with `argv`/`env`, so editing those fields simply takes over.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawFields {
    /// The `argv` list as read, when one of its elements was not a string.
    pub argv: Option<Vec<Value>>,
    /// The `env` object as read, when a value was not a string or the keys were not sorted.
    pub env: Option<Map<String, Value>>,
    /// The file contained `NaN`, `Infinity` or `-Infinity` (now `null`).
    pub non_finite_numbers: bool,
}

/// Why a `kernel.json` could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Opening or reading the file failed.
    #[error("failed to read kernel spec {path}")]
    Read {
        /// The kernel.json path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The path exists but is not a regular file.
    #[error("kernel spec {path} is not a regular file")]
    NotAFile {
        /// The kernel.json path.
        path: PathBuf,
    },
    /// The file is larger than [`MAX_SPEC_BYTES`].
    #[error("kernel spec {path} is too large (more than {limit} bytes)")]
    TooLarge {
        /// The kernel.json path.
        path: PathBuf,
        /// The limit that was exceeded.
        limit: u64,
    },
    /// The content is not a spec Jupyter would load.
    #[error("invalid kernel spec{}: {problem}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Invalid {
        /// The kernel.json path, when loading from a file.
        path: Option<PathBuf>,
        /// What is wrong.
        problem: SpecProblem,
    },
}

impl SpecError {
    /// The content problem, if this is [`SpecError::Invalid`].
    pub fn problem(&self) -> Option<&SpecProblem> {
        match self {
            SpecError::Invalid { problem, .. } => Some(problem),
            _ => None,
        }
    }

    fn invalid(problem: SpecProblem) -> SpecError {
        SpecError::Invalid {
            path: None,
            problem,
        }
    }
}

/// A content problem that makes Jupyter skip the spec (or fail to load it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecProblem {
    /// The file is not valid UTF-8.
    #[error("not valid UTF-8 (first bad byte at offset {offset})")]
    InvalidUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// The file starts with a UTF-8 byte order mark, which Python's `json` rejects.
    #[error("starts with a UTF-8 byte order mark (BOM), which Jupyter rejects; save the file without it")]
    Bom,
    /// The JSON is malformed (including trailing garbage after the object).
    #[error("JSON syntax error at line {line} column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// Nesting deeper than the parser's limit (128).
    #[error("JSON nested too deeply (limit 128) at line {line} column {column}")]
    TooDeep {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The top-level JSON value is not an object.
    #[error("the top-level JSON value is {found}, not an object")]
    NotAnObject {
        /// What it is instead ("a list", "a string", ...).
        found: &'static str,
    },
    /// A known field has the wrong JSON type.
    #[error("field {field:?} must be {expected}, not {found}")]
    WrongType {
        /// The field name.
        field: &'static str,
        /// What Jupyter accepts.
        expected: &'static str,
        /// What the file has.
        found: &'static str,
    },
    /// `interrupt_mode` is neither `signal` nor `message` (any case).
    #[error("field \"interrupt_mode\" must be \"signal\" or \"message\", not {value}")]
    BadInterruptMode {
        /// The value as JSON text.
        value: String,
    },
    /// A key Jupyter's loader refuses (it sets `resource_dir` itself).
    #[error("key {key:?} is not allowed in kernel.json (Jupyter sets it itself)")]
    ReservedKey {
        /// The key.
        key: String,
    },
}

/// A fact about a spec that loads but is broken or surprising.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecWarning {
    /// `argv` is empty: the kernel cannot start (and `jupyter kernelspec list --missing` crashes).
    EmptyArgv,
    /// No `argv` element contains `{connection_file}`: the kernel cannot learn its ports.
    MissingConnectionFile,
    /// `display_name` is empty.
    EmptyDisplayName,
    /// `language` is empty.
    EmptyLanguage,
    /// An `argv` element is not a JSON string: launch fails in Jupyter.
    NonStringArgv {
        /// Index of the element.
        index: usize,
    },
    /// An `env` value is not a JSON string: launch fails in Jupyter.
    NonStringEnv {
        /// The variable name.
        key: String,
    },
    /// The file used `NaN`/`Infinity`, which we read as `null`.
    NonFiniteNumbers,
    /// `metadata.kernel_provisioner` names a provisioner other than the built-in
    /// `local-provisioner`; Jupyter hides the spec unless that provisioner is installed.
    CustomProvisioner {
        /// The provisioner name.
        name: String,
    },
    /// Keys that Jupyter ignores (kept by us).
    IgnoredKeys {
        /// The keys, in file order.
        keys: Vec<String>,
    },
}

impl fmt::Display for SpecWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecWarning::EmptyArgv => f.write_str("argv is empty, so the kernel cannot start"),
            SpecWarning::MissingConnectionFile => f.write_str(
                "argv has no {connection_file} placeholder, so the kernel is not told its connection file",
            ),
            SpecWarning::EmptyDisplayName => f.write_str("display_name is empty"),
            SpecWarning::EmptyLanguage => f.write_str("language is empty"),
            SpecWarning::NonStringArgv { index } => write!(
                f,
                "argv[{index}] is not a string; Jupyter lists the spec but fails to launch it"
            ),
            SpecWarning::NonStringEnv { key } => write!(
                f,
                "env value of {key:?} is not a string; Jupyter lists the spec but fails to launch it"
            ),
            SpecWarning::NonFiniteNumbers => f.write_str(
                "the file uses NaN or Infinity, which is not standard JSON (read as null)",
            ),
            SpecWarning::CustomProvisioner { name } => write!(
                f,
                "uses kernel provisioner {name:?}; Jupyter hides this kernel unless that provisioner is installed"
            ),
            SpecWarning::IgnoredKeys { keys } => {
                write!(f, "keys ignored by Jupyter: {}", keys.join(", "))
            }
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn string_field(
    field: &'static str,
    v: Value,
    expected: &'static str,
) -> Result<String, SpecError> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(SpecError::invalid(SpecProblem::WrongType {
            field,
            expected,
            found: type_name(&other),
        })),
    }
}

fn syntax_problem(err: &serde_json::Error) -> SpecProblem {
    let text = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
    if message.starts_with("recursion limit exceeded") {
        SpecProblem::TooDeep {
            line: err.line(),
            column: err.column(),
        }
    } else {
        SpecProblem::Syntax {
            line: err.line(),
            column: err.column(),
            message,
        }
    }
}

impl KernelSpec {
    /// A spec with the given command, display name and language, and defaults elsewhere.
    pub fn new(
        argv: Vec<String>,
        display_name: impl Into<String>,
        language: impl Into<String>,
    ) -> KernelSpec {
        KernelSpec {
            argv,
            display_name: display_name.into(),
            language: language.into(),
            ..KernelSpec::default()
        }
    }

    /// Parse `kernel.json` bytes, accepting exactly what Jupyter accepts (see the module docs).
    pub fn from_json_bytes(bytes: &[u8]) -> Result<KernelSpec, SpecError> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            SpecError::invalid(SpecProblem::InvalidUtf8 {
                offset: e.valid_up_to(),
            })
        })?;
        if text.starts_with('\u{feff}') {
            return Err(SpecError::invalid(SpecProblem::Bom));
        }
        let replaced = pyjson::replace_non_finite(bytes);
        let value: Value = serde_json::from_slice(replaced.as_deref().unwrap_or(bytes))
            .map_err(|e| SpecError::invalid(syntax_problem(&e)))?;
        let Value::Object(map) = value else {
            return Err(SpecError::invalid(SpecProblem::NotAnObject {
                found: type_name(&value),
            }));
        };
        let mut spec = KernelSpec::from_map(map)?;
        spec.raw.non_finite_numbers = replaced.is_some();
        Ok(spec)
    }

    fn from_map(map: Map<String, Value>) -> Result<KernelSpec, SpecError> {
        let mut spec = KernelSpec::default();
        for (key, value) in map {
            match key.as_str() {
                "argv" => spec.set_argv(value)?,
                "display_name" => {
                    spec.display_name = string_field("display_name", value, "a string")?
                }
                "language" => spec.language = string_field("language", value, "a string")?,
                "interrupt_mode" => {
                    spec.interrupt_mode = match &value {
                        Value::String(s) => InterruptMode::parse(s),
                        _ => None,
                    }
                    .ok_or_else(|| {
                        SpecError::invalid(SpecProblem::BadInterruptMode {
                            value: value.to_string(),
                        })
                    })?
                }
                "env" => spec.set_env(value)?,
                "metadata" => match value {
                    Value::Object(m) => spec.metadata = m,
                    other => {
                        return Err(SpecError::invalid(SpecProblem::WrongType {
                            field: "metadata",
                            expected: "an object",
                            found: type_name(&other),
                        }))
                    }
                },
                "kernel_protocol_version" => {
                    spec.kernel_protocol_version =
                        Some(string_field("kernel_protocol_version", value, "a string")?)
                }
                "resource_dir" => return Err(SpecError::invalid(SpecProblem::ReservedKey { key })),
                // Traits that exist on Jupyter's KernelSpec but are not written back out.
                "name" | "mimetype" => {
                    let field = if key == "name" { "name" } else { "mimetype" };
                    let s = string_field(field, value, "a string")?;
                    spec.extra.insert(key, Value::String(s));
                }
                _ => {
                    spec.extra.insert(key, value);
                }
            }
        }
        Ok(spec)
    }

    fn set_argv(&mut self, value: Value) -> Result<(), SpecError> {
        match value {
            // traitlets' List coerces a bare string into a one-element list.
            Value::String(s) => self.argv = vec![s],
            Value::Array(items) => {
                if items.iter().all(Value::is_string) {
                    self.argv = items.into_iter().map(|v| compact(&v)).collect();
                } else {
                    self.argv = items.iter().map(compact).collect();
                    self.raw.argv = Some(items);
                }
            }
            other => {
                return Err(SpecError::invalid(SpecProblem::WrongType {
                    field: "argv",
                    expected: "a list of strings",
                    found: type_name(&other),
                }))
            }
        }
        Ok(())
    }

    fn set_env(&mut self, value: Value) -> Result<(), SpecError> {
        let Value::Object(map) = value else {
            return Err(SpecError::invalid(SpecProblem::WrongType {
                field: "env",
                expected: "an object",
                found: type_name(&value),
            }));
        };
        let all_strings = map.values().all(Value::is_string);
        let sorted = map.keys().zip(map.keys().skip(1)).all(|(a, b)| a < b);
        self.env = map.iter().map(|(k, v)| (k.clone(), compact(v))).collect();
        if !(all_strings && sorted) {
            self.raw.env = Some(map);
        }
        Ok(())
    }

    /// Read and parse the `kernel.json` at `path` (capped at [`MAX_SPEC_BYTES`]).
    pub fn load(path: &Path) -> Result<KernelSpec, SpecError> {
        let read_err = |source| SpecError::Read {
            path: path.to_owned(),
            source,
        };
        let bytes = crate::bounded::read_regular(path, MAX_SPEC_BYTES).map_err(|e| match e {
            crate::bounded::BoundedReadError::NotRegular { .. } => SpecError::NotAFile {
                path: path.to_owned(),
            },
            crate::bounded::BoundedReadError::TooLarge { .. } => SpecError::TooLarge {
                path: path.to_owned(),
                limit: MAX_SPEC_BYTES,
            },
            crate::bounded::BoundedReadError::Io { source, .. } => read_err(source),
        })?;
        KernelSpec::from_json_bytes(&bytes).map_err(|e| match e {
            SpecError::Invalid { problem, .. } => SpecError::Invalid {
                path: Some(path.to_owned()),
                problem,
            },
            other => other,
        })
    }

    /// `argv` as JSON: the verbatim list when [`RawFields::argv`] still agrees with `argv`.
    fn argv_json(&self) -> Value {
        if let Some(raw) = &self.raw.argv {
            if raw.len() == self.argv.len()
                && raw.iter().zip(&self.argv).all(|(r, a)| compact(r) == *a)
            {
                return Value::Array(raw.clone());
            }
        }
        Value::Array(self.argv.iter().cloned().map(Value::String).collect())
    }

    /// `env` as JSON: the verbatim object when [`RawFields::env`] still agrees with `env`.
    fn env_json(&self) -> Value {
        if let Some(raw) = &self.raw.env {
            if raw.len() == self.env.len()
                && raw
                    .iter()
                    .all(|(k, v)| self.env.get(k).is_some_and(|e| *e == compact(v)))
            {
                return Value::Object(raw.clone());
            }
        }
        Value::Object(
            self.env
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    }

    /// The `"spec"` object of `jupyter kernelspec list --json`: exactly the keys `argv`, `env`,
    /// `display_name`, `language`, `interrupt_mode`, `metadata`, `kernel_protocol_version`, in
    /// that order, defaults filled in, unknown keys left out. Render it with
    /// [`crate::to_python_json`] to match Jupyter's bytes.
    pub fn to_jupyter_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("argv".into(), self.argv_json());
        m.insert("env".into(), self.env_json());
        m.insert(
            "display_name".into(),
            Value::String(self.display_name.clone()),
        );
        m.insert("language".into(), Value::String(self.language.clone()));
        m.insert(
            "interrupt_mode".into(),
            Value::String(self.interrupt_mode.as_str().into()),
        );
        m.insert("metadata".into(), Value::Object(self.metadata.clone()));
        m.insert(
            "kernel_protocol_version".into(),
            Value::String(self.kernel_protocol_version.clone().unwrap_or_default()),
        );
        Value::Object(m)
    }

    /// The JSON object we write to `kernel.json`: ipykernel 7.x key order (`argv`,
    /// `display_name`, `language`, `metadata`, `kernel_protocol_version` if set, `env` if
    /// non-empty), then `interrupt_mode` if not `signal`, then the [`extra`](Self::extra) keys
    /// sorted by name.
    pub fn to_file_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("argv".into(), self.argv_json());
        m.insert(
            "display_name".into(),
            Value::String(self.display_name.clone()),
        );
        m.insert("language".into(), Value::String(self.language.clone()));
        m.insert("metadata".into(), Value::Object(self.metadata.clone()));
        if let Some(v) = &self.kernel_protocol_version {
            m.insert("kernel_protocol_version".into(), Value::String(v.clone()));
        }
        if !self.env.is_empty() {
            m.insert("env".into(), self.env_json());
        }
        if self.interrupt_mode != InterruptMode::Signal {
            m.insert(
                "interrupt_mode".into(),
                Value::String(self.interrupt_mode.as_str().into()),
            );
        }
        let mut extra: Vec<_> = self.extra.iter().collect();
        extra.sort_by(|a, b| a.0.cmp(b.0));
        for (k, v) in extra {
            if !m.contains_key(k) {
                m.insert(k.clone(), v.clone());
            }
        }
        Value::Object(m)
    }

    /// `kernel.json` text as we write it: [`to_file_json`](Self::to_file_json) rendered like
    /// ipykernel's `json.dump(..., indent=1)` (one-space indent, ASCII-only, no trailing
    /// newline). Deterministic: the same spec always gives the same bytes.
    pub fn to_file_string(&self) -> String {
        pyjson::to_python_json(&self.to_file_json(), Some(1))
    }

    /// The provisioner named in `metadata.kernel_provisioner.provisioner_name`, if any.
    pub fn provisioner_name(&self) -> Option<&str> {
        self.metadata
            .get("kernel_provisioner")?
            .get("provisioner_name")?
            .as_str()
    }

    /// Whether Jupyter could start this spec at all: `argv` is non-empty and every `argv`
    /// element and `env` value was a string.
    pub fn is_launchable(&self) -> bool {
        !self.argv.is_empty()
            && self.raw.argv.is_none()
            && self
                .raw
                .env
                .as_ref()
                .is_none_or(|m| m.values().all(Value::is_string))
    }

    /// Facts about a spec that loads but is broken or surprising, in a fixed order.
    pub fn lint(&self) -> Vec<SpecWarning> {
        let mut out = Vec::new();
        if self.argv.is_empty() {
            out.push(SpecWarning::EmptyArgv);
        } else if !self.argv.iter().any(|a| a.contains("{connection_file}")) {
            out.push(SpecWarning::MissingConnectionFile);
        }
        if let Some(raw) = &self.raw.argv {
            for (index, v) in raw.iter().enumerate() {
                if !v.is_string() {
                    out.push(SpecWarning::NonStringArgv { index });
                }
            }
        }
        if let Some(raw) = &self.raw.env {
            for (key, v) in raw {
                if !v.is_string() {
                    out.push(SpecWarning::NonStringEnv { key: key.clone() });
                }
            }
        }
        if self.display_name.is_empty() {
            out.push(SpecWarning::EmptyDisplayName);
        }
        if self.language.is_empty() {
            out.push(SpecWarning::EmptyLanguage);
        }
        if self.raw.non_finite_numbers {
            out.push(SpecWarning::NonFiniteNumbers);
        }
        if let Some(name) = self.provisioner_name() {
            if name != "local-provisioner" {
                out.push(SpecWarning::CustomProvisioner {
                    name: name.to_owned(),
                });
            }
        }
        if !self.extra.is_empty() {
            out.push(SpecWarning::IgnoredKeys {
                keys: self.extra.keys().cloned().collect(),
            });
        }
        out
    }
}
