//! Reading `kernels.toml`: the TOML document is parsed with spans (`toml::de::DeTable`) and
//! walked by hand, so every problem is reported at its line and column with the field it is
//! about, unknown keys get a "did you mean" suggestion, and all problems are reported at once.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use envs::{BackendKind, Language};
use kernelspec::KernelName;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::{FileError, FileErrors, FileScope, KernelEntry, KernelsFile, FILE_VERSION};
use crate::request::{is_env_key, BackendChoice};

/// Top-level keys.
const TOP_KEYS: &[&str] = &["version", "kernel"];

/// Keys of a `[[kernel]]` table.
pub(super) const KERNEL_KEYS: &[&str] = &[
    "name",
    "display_name",
    "language",
    "backend",
    "python",
    "packages",
    "pip",
    "requirements",
    "environment_file",
    "channels",
    "existing",
    "clone",
    "prefix",
    "env",
    "scope",
    "protect",
    "provision_uv",
];

/// Keys that describe a new environment, which `existing` excludes.
const NEW_ENV_KEYS: &[&str] = &[
    "backend",
    "python",
    "environment_file",
    "prefix",
    "provision_uv",
];

/// Where relative paths resolve and what `~` means.
pub(super) struct Context<'a> {
    /// The file's name as shown in messages.
    pub shown: &'a Path,
    /// The file's directory (relative paths resolve against it).
    pub base: &'a Path,
    /// The home directory `~` expands to.
    pub home: Option<&'a Path>,
}

struct Walker<'a> {
    text: &'a str,
    ctx: &'a Context<'a>,
    errors: Vec<FileError>,
}

/// Parses the text of a kernels.toml.
pub(super) fn parse(text: &str, ctx: &Context<'_>) -> Result<KernelsFile, FileErrors> {
    let mut w = Walker {
        text,
        ctx,
        errors: Vec::new(),
    };
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim_end().to_string();
            w.error(span, None, message, None);
            return Err(w.finish());
        }
    };
    let root = root.into_inner();
    let mut version = FILE_VERSION;
    let mut kernels = Vec::new();
    for (key, value) in root.iter() {
        match key.get_ref().as_ref() {
            "version" => {
                version = w.version(value).unwrap_or(FILE_VERSION);
            }
            "kernel" => kernels = w.kernels(value),
            other => w.unknown(key.span(), None, other, TOP_KEYS, "top-level key"),
        }
    }
    if !root.iter().any(|(k, _)| k.get_ref() == "kernel") {
        w.error(
            0..0,
            None,
            "the file lists no kernels".into(),
            Some("add a [[kernel]] table with at least `name = \"...\"`".into()),
        );
    }
    // Duplicate names (after Jupyter's lowercasing).
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut dups = Vec::new();
    for k in &kernels {
        if let Some(first) = seen.get(k.entry.name.as_str()) {
            dups.push((k.name_span.clone(), k.entry.name.to_string(), *first));
        } else {
            seen.insert(k.entry.name.to_string(), w.line_col(k.name_span.start).0);
        }
    }
    for (span, name, first) in dups {
        w.error(
            span,
            Some("name".into()),
            format!("duplicate kernel name `{name}` (first defined on line {first})"),
            Some("kernel names are case-insensitive; each [[kernel]] needs its own".into()),
        );
    }
    if !w.errors.is_empty() {
        return Err(w.finish());
    }
    Ok(KernelsFile {
        path: ctx.shown.to_path_buf(),
        version,
        kernels: kernels.into_iter().map(|k| k.entry).collect(),
    })
}

/// The fields of a `[[kernel]]` table, before its name is known to be valid.
#[derive(Default)]
struct Draft {
    display_name: Option<String>,
    language: Language,
    backend: BackendChoice,
    python: Option<String>,
    packages: Vec<String>,
    pip: Vec<String>,
    requirements: Option<PathBuf>,
    environment_file: Option<PathBuf>,
    channels: Vec<String>,
    existing: Option<PathBuf>,
    clone: Option<String>,
    prefix: Option<PathBuf>,
    env: BTreeMap<String, String>,
    scope: FileScope,
    protect: bool,
    provision_uv: Option<bool>,
}

impl Draft {
    fn into_entry(self, name: KernelName, line: usize) -> KernelEntry {
        KernelEntry {
            name,
            display_name: self.display_name,
            language: self.language,
            backend: self.backend,
            python: self.python,
            packages: self.packages,
            pip: self.pip,
            requirements: self.requirements,
            environment_file: self.environment_file,
            channels: self.channels,
            existing: self.existing,
            clone: self.clone,
            prefix: self.prefix,
            env: self.env,
            scope: self.scope,
            protect: self.protect,
            provision_uv: self.provision_uv.unwrap_or(true),
            line,
        }
    }
}

struct Parsed {
    entry: KernelEntry,
    name_span: Range<usize>,
}

type Value<'i> = Spanned<DeValue<'i>>;

impl Walker<'_> {
    fn finish(mut self) -> FileErrors {
        self.errors.sort_by_key(|e| (e.line, e.column));
        FileErrors {
            path: self.ctx.shown.to_path_buf(),
            errors: self.errors,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    fn error(
        &mut self,
        span: Range<usize>,
        field: Option<String>,
        message: String,
        hint: Option<String>,
    ) {
        let (line, column) = self.line_col(span.start);
        self.errors.push(FileError {
            line,
            column,
            field,
            message,
            hint,
        });
    }

    fn unknown(
        &mut self,
        span: Range<usize>,
        field: Option<String>,
        key: &str,
        known: &[&str],
        what: &str,
    ) {
        let candidates: Vec<String> = known.iter().map(|s| (*s).to_string()).collect();
        let close = crate::policy::closest_names(key, &candidates);
        let hint = match close.first() {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("known keys: {}", known.join(", ")),
        };
        let field = field
            .map(|f| format!("{f}.{key}"))
            .or(Some(key.to_string()));
        self.error(span, field, format!("unknown {what} `{key}`"), Some(hint));
    }

    fn version(&mut self, value: &Value<'_>) -> Option<u32> {
        let ok = value
            .get_ref()
            .as_integer()
            .filter(|i| i.radix() == 10)
            .and_then(|i| i.as_str().parse::<u32>().ok());
        match ok {
            Some(v) if v == FILE_VERSION => Some(v),
            _ => {
                self.error(
                    value.span(),
                    Some("version".into()),
                    format!("unsupported file version (this kernels reads version {FILE_VERSION})"),
                    Some(format!("write `version = {FILE_VERSION}` or leave it out")),
                );
                None
            }
        }
    }

    fn kernels(&mut self, value: &Value<'_>) -> Vec<Parsed> {
        let DeValue::Array(items) = value.get_ref() else {
            self.error(
                value.span(),
                Some("kernel".into()),
                "expected an array of tables".into(),
                Some("write each kernel as a [[kernel]] table (double brackets)".into()),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.get_ref() {
                DeValue::Table(table) => {
                    if let Some(k) = self.kernel(i, item.span(), table) {
                        out.push(k);
                    }
                }
                _ => self.error(
                    item.span(),
                    Some(format!("kernel[{i}]")),
                    "expected a table".into(),
                    Some("write each kernel as a [[kernel]] table (double brackets)".into()),
                ),
            }
        }
        out
    }

    fn kernel(&mut self, index: usize, span: Range<usize>, table: &DeTable<'_>) -> Option<Parsed> {
        // Refer to a kernel by its name when it has a usable one, else by position.
        let label = table
            .iter()
            .find(|(k, _)| k.get_ref() == "name")
            .and_then(|(_, v)| match v.get_ref() {
                DeValue::String(s) if !s.is_empty() => Some(format!("kernel `{s}`")),
                _ => None,
            })
            .unwrap_or_else(|| format!("kernel[{index}]"));
        let field = |key: &str| Some(format!("{label}.{key}"));

        let mut name: Option<(KernelName, Range<usize>)> = None;
        let mut e = Draft::default();
        let mut present: Vec<(&str, Range<usize>)> = Vec::new();
        for (key, value) in table.iter() {
            let k = key.get_ref().as_ref();
            let Some(known) = KERNEL_KEYS.iter().find(|x| **x == k) else {
                self.unknown(key.span(), Some(label.clone()), k, KERNEL_KEYS, "key");
                continue;
            };
            present.push((known, key.span()));
            match k {
                "name" => {
                    if let Some(s) = self.string(value, field(k)) {
                        match KernelName::parse(&s) {
                            Ok(n) => name = Some((n, value.span())),
                            Err(err) => self.error(
                                value.span(),
                                field(k),
                                format!("invalid kernel name {s:?}: {}", err.what),
                                Some(kernelspec::NAME_RULE.into()),
                            ),
                        }
                    }
                }
                "display_name" => {
                    if let Some(s) = self.string(value, field(k)) {
                        if s.trim().is_empty() {
                            self.error(value.span(), field(k), "is empty".into(), None);
                        } else {
                            e.display_name = Some(s);
                        }
                    }
                }
                "language" => {
                    if let Some(s) = self.string(value, field(k)) {
                        match s.to_ascii_lowercase().as_str() {
                            "python" => e.language = Language::Python,
                            "r" => e.language = Language::R,
                            _ => self.bad_choice(value.span(), field(k), &s, &["python", "r"]),
                        }
                    }
                }
                "backend" => {
                    if let Some(s) = self.string(value, field(k)) {
                        match s.parse::<BackendChoice>() {
                            Ok(choice) => e.backend = choice,
                            Err(_) => {
                                let names: Vec<&str> =
                                    BackendChoice::all().map(BackendChoice::name).collect();
                                self.bad_choice(value.span(), field(k), &s, &names);
                                continue;
                            }
                        }
                    }
                }
                "python" => e.python = self.python_version(value, field(k)),
                "packages" => e.packages = self.strings(value, field(k)),
                "pip" => e.pip = self.strings(value, field(k)),
                "channels" => e.channels = self.strings(value, field(k)),
                "requirements" => e.requirements = self.path(value, field(k)),
                "environment_file" => e.environment_file = self.path(value, field(k)),
                "existing" => e.existing = self.path(value, field(k)),
                // A path (with `/`) resolves like every path of the file; a bare word is a
                // kernel or conda environment name.
                "clone" => {
                    e.clone = match value.get_ref() {
                        DeValue::String(s) if !s.contains('/') && !s.starts_with('~') => {
                            self.string(value, field(k))
                        }
                        _ => self.path(value, field(k)).map(|p| p.display().to_string()),
                    }
                }
                "prefix" => e.prefix = self.path(value, field(k)),
                "env" => e.env = self.env_table(value, &label),
                "scope" => {
                    if let Some(s) = self.string(value, field(k)) {
                        e.scope = match s.as_str() {
                            "user" => FileScope::User,
                            "system" => FileScope::System,
                            "sys-prefix" => FileScope::SysPrefix,
                            _ => {
                                self.bad_choice(
                                    value.span(),
                                    field(k),
                                    &s,
                                    &["user", "system", "sys-prefix"],
                                );
                                continue;
                            }
                        };
                    }
                }
                "protect" => match value.get_ref() {
                    DeValue::Boolean(b) => e.protect = *b,
                    _ => self.error(
                        value.span(),
                        field(k),
                        "expected true or false".into(),
                        None,
                    ),
                },
                "provision_uv" => match value.get_ref() {
                    DeValue::Boolean(b) => e.provision_uv = Some(*b),
                    _ => self.error(
                        value.span(),
                        field(k),
                        "expected true or false".into(),
                        None,
                    ),
                },
                _ => {}
            }
        }
        let has = |key: &str| {
            present
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, s)| s.clone())
        };
        if let Some(clone_span) = has("clone") {
            for key in ["existing", "python", "environment_file"] {
                if let Some(span) = has(key) {
                    self.error(
                        span,
                        field(key),
                        format!("`{key}` cannot be combined with `clone`: the copy gets the source's Python and packages"),
                        Some(format!(
                            "drop `{key}`, or drop `clone` (line {})",
                            self.line_col(clone_span.start).0
                        )),
                    );
                }
            }
        }
        if let Some(existing_span) = has("existing") {
            for key in NEW_ENV_KEYS {
                if let Some(span) = has(key) {
                    self.error(
                        span,
                        field(key),
                        format!("`{key}` describes a new environment; it cannot be combined with `existing`"),
                        Some(format!(
                            "drop `{key}`, or drop `existing` (line {}) to create the environment",
                            self.line_col(existing_span.start).0
                        )),
                    );
                }
            }
        }
        if e.language == Language::R {
            for key in ["pip", "requirements"] {
                if let Some(span) = has(key) {
                    self.error(
                        span,
                        field(key),
                        "pip packages and requirements files need a Python kernel".into(),
                        Some("R packages come from conda: list them in `packages` (r-...)".into()),
                    );
                }
            }
            if e.backend == BackendChoice::Only(BackendKind::Venv) {
                if let Some(span) = has("backend") {
                    self.error(
                        span,
                        field("backend"),
                        "the venv backend cannot create R environments".into(),
                        Some("use conda, mamba, micromamba or auto".into()),
                    );
                }
            }
        }
        if e.backend == BackendChoice::Only(BackendKind::Venv) {
            if let Some(span) = has("environment_file") {
                self.error(
                    span,
                    field("environment_file"),
                    "the venv backend cannot use a conda environment file".into(),
                    Some("use `requirements` for pip, or a conda-family backend".into()),
                );
            }
        }
        let Some((name, name_span)) = name else {
            if !present.iter().any(|(k, _)| *k == "name") {
                self.error(
                    span,
                    Some(format!("kernel[{index}]")),
                    "missing required key `name`".into(),
                    Some("every [[kernel]] needs `name = \"...\"`".into()),
                );
            }
            return None;
        };
        // An entry with problems is still returned, so duplicate names are reported too;
        // any problem makes the whole file an error.
        let line = self.line_col(span.start).0;
        Some(Parsed {
            entry: e.into_entry(name, line),
            name_span,
        })
    }

    fn bad_choice(
        &mut self,
        span: Range<usize>,
        field: Option<String>,
        got: &str,
        choices: &[&str],
    ) {
        let candidates: Vec<String> = choices.iter().map(|s| (*s).to_string()).collect();
        let hint = match crate::policy::closest_names(got, &candidates).first() {
            Some(best) => format!("did you mean \"{best}\"? (one of: {})", choices.join(", ")),
            None => format!("one of: {}", choices.join(", ")),
        };
        self.error(span, field, format!("unknown value {got:?}"), Some(hint));
    }

    fn type_name(value: &DeValue<'_>) -> &'static str {
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

    fn string(&mut self, value: &Value<'_>, field: Option<String>) -> Option<String> {
        match value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            other => {
                let found = Self::type_name(other);
                self.error(
                    value.span(),
                    field,
                    format!("expected a string, found {found}"),
                    None,
                );
                None
            }
        }
    }

    fn python_version(&mut self, value: &Value<'_>, field: Option<String>) -> Option<String> {
        match value.get_ref() {
            DeValue::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            DeValue::Float(_) | DeValue::Integer(_) => {
                let raw = self.text.get(value.span()).unwrap_or("").trim().to_string();
                self.error(
                    value.span(),
                    field,
                    "expected a string, found a number".into(),
                    Some(format!(
                        "quote the version: python = \"{raw}\" (as a number, 3.10 would read as 3.1)"
                    )),
                );
                None
            }
            _ => {
                self.error(
                    value.span(),
                    field,
                    "expected a version string such as \"3.11\"".into(),
                    None,
                );
                None
            }
        }
    }

    fn strings(&mut self, value: &Value<'_>, field: Option<String>) -> Vec<String> {
        let DeValue::Array(items) = value.get_ref() else {
            let hint = match value.get_ref() {
                DeValue::String(s) => Some(format!("write a list: [{:?}]", s.as_ref())),
                _ => None,
            };
            let found = Self::type_name(value.get_ref());
            self.error(
                value.span(),
                field,
                format!("expected an array of strings, found {found}"),
                hint,
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) if !s.trim().is_empty() => out.push(s.trim().to_string()),
                DeValue::String(_) => self.error(
                    item.span(),
                    field.clone(),
                    "empty string in the list".into(),
                    None,
                ),
                other => {
                    let found = Self::type_name(other);
                    self.error(
                        item.span(),
                        field.clone(),
                        format!("expected a string in the list, found {found}"),
                        None,
                    )
                }
            }
        }
        out
    }

    fn path(&mut self, value: &Value<'_>, field: Option<String>) -> Option<PathBuf> {
        let s = self.string(value, field.clone())?;
        if s.is_empty() || s.contains('\0') {
            self.error(value.span(), field, "expected a path".into(), None);
            return None;
        }
        let expanded = match (
            s.strip_prefix("~/").or((s == "~").then_some("")),
            self.ctx.home,
        ) {
            (Some(rest), Some(home)) => home.join(rest),
            (Some(_), None) => {
                self.error(
                    value.span(),
                    field,
                    "`~` cannot be expanded: no home directory".into(),
                    Some("use an absolute path".into()),
                );
                return None;
            }
            (None, _) => PathBuf::from(&s),
        };
        Some(normalize(&self.ctx.base.join(expanded)))
    }

    fn env_table(&mut self, value: &Value<'_>, label: &str) -> BTreeMap<String, String> {
        let DeValue::Table(table) = value.get_ref() else {
            self.error(
                value.span(),
                Some(format!("{label}.env")),
                "expected a table of KEY = \"value\"".into(),
                Some("write env = { MY_VAR = \"1\" }".into()),
            );
            return BTreeMap::new();
        };
        let mut out = BTreeMap::new();
        for (key, v) in table.iter() {
            let k = key.get_ref().to_string();
            let field = Some(format!("{label}.env.{k}"));
            if !is_env_key(&k) {
                self.error(
                    key.span(),
                    field,
                    format!("invalid environment variable name {k:?}"),
                    Some("letters, digits and _, not starting with a digit".into()),
                );
                continue;
            }
            match v.get_ref() {
                DeValue::String(s) => {
                    out.insert(k, s.to_string());
                }
                other => {
                    let raw = self.text.get(v.span()).unwrap_or("").trim().to_string();
                    let found = Self::type_name(other);
                    self.error(
                        v.span(),
                        field,
                        format!("expected a string, found {found}"),
                        Some(format!("quote it: {k} = \"{raw}\"")),
                    );
                }
            }
        }
        out
    }
}

/// `a/./b/../c` → `a/c`, lexically (the file's directory is absolute, so this stays absolute).
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}
