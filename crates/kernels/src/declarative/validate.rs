//! From the model serde read ([`super::model`]) to the typed entries the planner uses: names,
//! allowed values, paths, and keys that contradict each other. Every problem is recorded in
//! the [`Report`], at the value (or key) it is about.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use envs::{BackendKind, Language};
use kernelspec::KernelName;
use toml::Spanned;

use super::model::{FileModel, KernelModel, Text, TextList};
use super::report::Report;
use super::{FileScope, KernelEntry, KernelsFile, FILE_VERSION};
use crate::request::{is_env_key, BackendChoice};

/// Keys that describe a new environment, which `existing` excludes.
const NEW_ENV_KEYS: &[&str] = &[
    "backend",
    "python",
    "environment_file",
    "prefix",
    "provision_uv",
];

/// Keys that `clone` excludes: the copy gets the source's Python and packages.
const NOT_WITH_CLONE: &[&str] = &["existing", "python", "environment_file"];

/// What the validation needs to know about one element of the file's `kernel` array besides
/// its values: where it is, what messages call it, and where its keys are written
/// (contradictions are reported at the key).
pub(super) struct KernelSite {
    /// Its position in the array.
    pub index: usize,
    /// The span of the table (its `[[kernel]]` header).
    pub span: Range<usize>,
    /// ``kernel `NAME` `` when it has a usable name, else `kernel[INDEX]`.
    pub label: String,
    /// Each key written in the table, with its span, whether or not its value was usable.
    pub keys: Vec<(String, Range<usize>)>,
}

impl KernelSite {
    fn key(&self, key: &str) -> Option<Range<usize>> {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, s)| s.clone())
    }

    fn field(&self, key: &str) -> Option<String> {
        Some(format!("{}.{key}", self.label))
    }
}

/// A kernel entry that has a valid name, and where the name is written.
struct Named {
    entry: KernelEntry,
    name_span: Range<usize>,
}

/// The file from the model serde read (`None` when it could read none).
pub(super) fn file(
    model: Option<FileModel>,
    sites: &[KernelSite],
    r: &mut Report<'_>,
) -> KernelsFile {
    let model = model.unwrap_or(FileModel {
        version: None,
        kernel: None,
    });
    if let Some(v) = model.version.filter(|v| *v.get_ref() != FILE_VERSION) {
        bad_version(r, v.span());
    }
    let kernels: Vec<Named> = model
        .kernel
        .unwrap_or_default()
        .into_iter()
        .filter_map(|item| {
            let site = sites.iter().find(|s| s.span == item.span())?;
            kernel(r, site, item.into_inner())
        })
        .collect();
    duplicates(r, &kernels);
    KernelsFile {
        path: r.ctx.shown.to_path_buf(),
        version: FILE_VERSION,
        kernels: kernels.into_iter().map(|k| k.entry).collect(),
    }
}

/// A `version` that is not [`FILE_VERSION`].
pub(super) fn bad_version(r: &mut Report<'_>, span: Range<usize>) {
    r.error(
        span,
        Some("version".into()),
        format!("unsupported file version (this kernels reads version {FILE_VERSION})"),
        Some(format!("write `version = {FILE_VERSION}` or leave it out")),
    );
}

/// The message and hint for a `python` that is not a version string: a TOML number (`raw`
/// as written), or anything else.
pub(super) fn bad_python(number: bool, raw: &str) -> (String, Option<String>) {
    if number {
        let hint =
            format!("quote the version: python = \"{raw}\" (as a number, 3.10 would read as 3.1)");
        ("expected a string, found a number".into(), Some(hint))
    } else {
        ("expected a version string such as \"3.11\"".into(), None)
    }
}

/// Duplicate names (after Jupyter's lowercasing), reported at the later one.
fn duplicates(r: &mut Report<'_>, kernels: &[Named]) {
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    for k in kernels {
        let name = k.entry.name.as_str();
        let Some(line) = first.get(name) else {
            first.insert(name, r.line_col(k.name_span.start).0);
            continue;
        };
        let message = format!("duplicate kernel name `{name}` (first defined on line {line})");
        r.error(
            k.name_span.clone(),
            Some("name".into()),
            message,
            Some("kernel names are case-insensitive; each [[kernel]] needs its own".into()),
        );
    }
}

/// One `[[kernel]]` table. An entry with problems is still returned when it has a valid
/// name, so duplicate names are reported too; any problem makes the whole file an error.
fn kernel(r: &mut Report<'_>, site: &KernelSite, m: KernelModel) -> Option<Named> {
    let mut v = Values { r, site };
    // Without a usable name the values are still checked, under a stand-in name, and the
    // entry is then dropped.
    let (name, name_span) = match m.name.and_then(|n| v.name(n)) {
        Some((name, span)) => (name, Some(span)),
        None => (KernelName::parse("unnamed").ok()?, None),
    };
    let entry = KernelEntry {
        name,
        display_name: m.display_name.and_then(|s| v.display_name(s)),
        language: m.language.and_then(|s| v.language(s)).unwrap_or_default(),
        backend: m.backend.and_then(|s| v.backend(s)).unwrap_or_default(),
        python: m.python.and_then(|s| v.python(s)),
        packages: v.list(m.packages, "packages"),
        pip: v.list(m.pip, "pip"),
        requirements: m.requirements.and_then(|s| v.path(s, "requirements")),
        environment_file: m
            .environment_file
            .and_then(|s| v.path(s, "environment_file")),
        channels: v.list(m.channels, "channels"),
        existing: m.existing.and_then(|s| v.path(s, "existing")),
        clone: m.clone.and_then(|s| v.clone_source(s)),
        prefix: m.prefix.and_then(|s| v.path(s, "prefix")),
        env: m.env.map(|t| v.env(t)).unwrap_or_default(),
        scope: m.scope.and_then(|s| v.scope(s)).unwrap_or_default(),
        protect: m.protect.is_some_and(|b| *b.get_ref()),
        provision_uv: m.provision_uv.is_none_or(|b| *b.get_ref()),
        line: v.r.line_col(site.span.start).0,
    };
    contradictions(v.r, site, &entry);
    let Some(name_span) = name_span else {
        if site.key("name").is_none() {
            v.r.error(
                site.span.clone(),
                Some(format!("kernel[{}]", site.index)),
                "missing required key `name`",
                Some("every [[kernel]] needs `name = \"...\"`".into()),
            );
        }
        return None;
    };
    Some(Named { entry, name_span })
}

/// Keys written together that cannot be, each reported at the key that is too many.
fn contradictions(r: &mut Report<'_>, site: &KernelSite, e: &KernelEntry) {
    let line = |r: &Report<'_>, span: Range<usize>| r.line_col(span.start).0;
    if let Some(clone) = site.key("clone") {
        for key in NOT_WITH_CLONE {
            if let Some(span) = site.key(key) {
                let message = format!("`{key}` cannot be combined with `clone`: the copy gets the source's Python and packages");
                let hint = format!(
                    "drop `{key}`, or drop `clone` (line {})",
                    line(r, clone.clone())
                );
                r.error(span, site.field(key), message, Some(hint));
            }
        }
    }
    if let Some(existing) = site.key("existing") {
        for key in NEW_ENV_KEYS {
            if let Some(span) = site.key(key) {
                let message = format!(
                    "`{key}` describes a new environment; it cannot be combined with `existing`"
                );
                let hint = format!(
                    "drop `{key}`, or drop `existing` (line {}) to create the environment",
                    line(r, existing.clone())
                );
                r.error(span, site.field(key), message, Some(hint));
            }
        }
    }
    let venv = e.backend == BackendChoice::Only(BackendKind::Venv);
    let mut rule = |key: &str, applies: bool, message: &str, hint: &str| {
        if let Some(span) = site.key(key).filter(|_| applies) {
            r.error(span, site.field(key), message, Some(hint.into()));
        }
    };
    let r_lang = e.language == Language::R;
    for key in ["pip", "requirements"] {
        rule(
            key,
            r_lang,
            "pip packages and requirements files need a Python kernel",
            "R packages come from conda: list them in `packages` (r-...)",
        );
    }
    rule(
        "backend",
        r_lang && venv,
        "the venv backend cannot create R environments",
        "use conda, mamba, micromamba or auto",
    );
    rule(
        "environment_file",
        venv,
        "the venv backend cannot use a conda environment file",
        "use `requirements` for pip, or a conda-family backend",
    );
}

/// Checks one kernel's values, reporting what is wrong; each returns the typed value, or
/// `None` when it was reported.
struct Values<'v, 'r, 'a> {
    r: &'v mut Report<'r>,
    site: &'a KernelSite,
}

impl Values<'_, '_, '_> {
    fn name(&mut self, s: Text) -> Option<(KernelName, Range<usize>)> {
        match KernelName::parse(s.get_ref()) {
            Ok(name) => Some((name, s.span())),
            Err(err) => {
                let message = format!("invalid kernel name {:?}: {}", s.get_ref(), err.what);
                let hint = Some(kernelspec::NAME_RULE.into());
                self.r
                    .error(s.span(), self.site.field("name"), message, hint);
                None
            }
        }
    }

    fn display_name(&mut self, s: Text) -> Option<String> {
        if s.get_ref().trim().is_empty() {
            let field = self.site.field("display_name");
            self.r.error(s.span(), field, "is empty", None);
            return None;
        }
        Some(s.into_inner())
    }

    /// `value` as one of `choices` (`case` folds it first), or a "did you mean".
    fn choice<T: Copy>(
        &mut self,
        s: Text,
        key: &str,
        choices: &[(&str, T)],
        fold: fn(&str) -> String,
    ) -> Option<T> {
        let got = fold(s.get_ref());
        let found = choices.iter().find(|(word, _)| *word == got);
        if found.is_none() {
            let words: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
            self.r
                .bad_choice(s.span(), self.site.field(key), s.get_ref(), &words);
        }
        found.map(|(_, value)| *value)
    }

    fn language(&mut self, s: Text) -> Option<Language> {
        let choices = [("python", Language::Python), ("r", Language::R)];
        self.choice(s, "language", &choices, str::to_ascii_lowercase)
    }

    fn backend(&mut self, s: Text) -> Option<BackendChoice> {
        let choices: Vec<(&str, BackendChoice)> =
            BackendChoice::all().map(|c| (c.name(), c)).collect();
        self.choice(s, "backend", &choices, str::to_owned)
    }

    fn scope(&mut self, s: Text) -> Option<FileScope> {
        let choices = [
            ("user", FileScope::User),
            ("system", FileScope::System),
            ("sys-prefix", FileScope::SysPrefix),
        ];
        self.choice(s, "scope", &choices, str::to_owned)
    }

    fn python(&mut self, s: Text) -> Option<String> {
        let version = s.get_ref().trim();
        if version.is_empty() {
            let (message, hint) = bad_python(false, version);
            self.r
                .error(s.span(), self.site.field("python"), message, hint);
            return None;
        }
        Some(version.to_string())
    }

    /// The non-empty strings of a list (trimmed).
    fn list(&mut self, list: Option<TextList>, key: &str) -> Vec<String> {
        let items = list.map(Spanned::into_inner).unwrap_or_default();
        let mut out = Vec::new();
        for item in items {
            let s = item.get_ref().trim();
            if s.is_empty() {
                let field = self.site.field(key);
                self.r
                    .error(item.span(), field, "empty string in the list", None);
            } else {
                out.push(s.to_string());
            }
        }
        out
    }

    /// A path, with `~` expanded and resolved against the file's directory.
    fn path(&mut self, s: Text, key: &str) -> Option<PathBuf> {
        let field = self.site.field(key);
        let text = s.get_ref();
        if text.is_empty() || text.contains('\0') {
            self.r.error(s.span(), field, "expected a path", None);
            return None;
        }
        let home = self.r.ctx.home;
        let expanded = match (
            text.strip_prefix("~/").or((text == "~").then_some("")),
            home,
        ) {
            (Some(rest), Some(home)) => home.join(rest),
            (Some(_), None) => {
                let hint = Some("use an absolute path".into());
                let message = "`~` cannot be expanded: no home directory";
                self.r.error(s.span(), field, message, hint);
                return None;
            }
            (None, _) => PathBuf::from(text),
        };
        Some(normalize(&self.r.ctx.base.join(expanded)))
    }

    /// A path (with `/`) resolves like every path of the file; a bare word is a kernel or
    /// conda environment name.
    fn clone_source(&mut self, s: Text) -> Option<String> {
        let text = s.get_ref();
        if !text.contains('/') && !text.starts_with('~') {
            return Some(s.into_inner());
        }
        self.path(s, "clone").map(|p| p.display().to_string())
    }

    fn env(&mut self, table: Spanned<BTreeMap<Text, Text>>) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (key, value) in table.into_inner() {
            let k = key.get_ref();
            if is_env_key(k) {
                out.insert(key.into_inner(), value.into_inner());
                continue;
            }
            self.r.error(
                key.span(),
                self.site.field(&format!("env.{k}")),
                format!("invalid environment variable name {k:?}"),
                Some("letters, digits and _, not starting with a digit".into()),
            );
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
