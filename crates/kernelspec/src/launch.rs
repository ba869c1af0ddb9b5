//! What Jupyter does to a spec's `argv` and `env` just before starting a kernel, as pure
//! functions (no process is started here).
//!
//! * argv: `{name}` placeholders matching `\{([A-Za-z0-9_]+)\}` are replaced when `name` is
//!   known and left as they are otherwise; then a leading `~` of any argument is expanded.
//!   A generic `python`/`python3`/`python3.<minor>` as `argv[0]` becomes a concrete
//!   interpreter.
//! * env: the inherited environment, overridden by the spec's `env`, whose values get Python
//!   `string.Template.safe_substitute` against the **inherited** environment only (`$VAR`,
//!   `${VAR}`, `$$` for a literal `$`, unknown names left as they are). `PYTHONEXECUTABLE` is
//!   dropped for kernels whose language starts with `python`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Replace `{key}` placeholders (key = ASCII letters, digits, `_`) in every argument with
/// `vars[key]`; unknown keys and anything else stay as they are.
///
/// ```
/// use std::collections::HashMap;
/// let vars = HashMap::from([("connection_file", "/run/k.json".to_string())]);
/// let argv = vec!["-f".to_string(), "x{connection_file}y".into(), "{other}".into()];
/// assert_eq!(
///     kernelspec::substitute_argv(&argv, &vars),
///     ["-f", "x/run/k.jsony", "{other}"]
/// );
/// ```
pub fn substitute_argv(argv: &[String], vars: &HashMap<&str, String>) -> Vec<String> {
    argv.iter()
        .map(|a| substitute_placeholders(a, vars))
        .collect()
}

fn substitute_placeholders(arg: &str, vars: &HashMap<&str, String>) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let key_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let key = &after[..key_len];
        if key_len > 0 && after[key_len..].starts_with('}') {
            match vars.get(key) {
                Some(v) => out.push_str(v),
                None => {
                    out.push('{');
                    out.push_str(key);
                    out.push('}');
                }
            }
            rest = &after[key_len + 1..];
        } else {
            out.push('{');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Python's `os.path.expanduser` for one argument: `~` alone or a leading `~/` becomes `home`
/// (its trailing separators dropped; `/` when nothing is left). `~user` forms and arguments
/// without a leading `~` are unchanged, as is everything when `home` is `None`.
pub fn expand_tilde(arg: &str, home: Option<&Path>) -> String {
    let Some(home) = home else {
        return arg.to_owned();
    };
    let seps: &[char] = if cfg!(windows) { &['/', '\\'] } else { &['/'] };
    match arg.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with(seps) => {
            let joined = format!("{}{rest}", home.to_string_lossy().trim_end_matches(seps));
            if joined.is_empty() {
                "/".to_owned()
            } else {
                joined
            }
        }
        _ => arg.to_owned(),
    }
}

/// The full argv transformation Jupyter applies: [`substitute_argv`], then [`expand_tilde`]
/// on every argument.
pub fn build_argv(
    argv: &[String],
    vars: &HashMap<&str, String>,
    home: Option<&Path>,
) -> Vec<String> {
    substitute_argv(argv, vars)
        .into_iter()
        .map(|a| expand_tilde(&a, home))
        .collect()
}

/// Whether `arg0` is one of the generic names Jupyter replaces by the launching interpreter:
/// exactly `python`, `python3`, or `python3.<minor>` for that interpreter's minor version.
pub fn is_generic_python(arg0: &str, python_minor: Option<u32>) -> bool {
    arg0 == "python"
        || arg0 == "python3"
        || python_minor.is_some_and(|m| arg0 == format!("python3.{m}"))
}

/// Replace a generic `argv[0]` (see [`is_generic_python`]) with `python`; returns whether it
/// did. Jupyter uses its own `sys.executable` here; pass the interpreter that should run the
/// kernel.
pub fn resolve_generic_python(
    argv: &mut [String],
    python: &Path,
    python_minor: Option<u32>,
) -> bool {
    match argv.first_mut() {
        Some(first) if is_generic_python(first, python_minor) => {
            *first = python.to_string_lossy().into_owned();
            true
        }
        _ => false,
    }
}

/// Python `string.Template(template).safe_substitute(vars)`.
pub fn safe_substitute(template: &str, vars: &BTreeMap<String, String>) -> String {
    let is_start = |c: char| c == '_' || c.is_ascii_alphabetic();
    let is_cont = |c: char| c == '_' || c.is_ascii_alphanumeric();
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if after.starts_with(is_start) {
            let len = after.find(|c| !is_cont(c)).unwrap_or(after.len());
            let name = &after[..len];
            match vars.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    out.push('$');
                    out.push_str(name);
                }
            }
            rest = &after[len..];
        } else if let Some(inner) = after.strip_prefix('{').filter(|i| i.starts_with(is_start)) {
            let len = inner.find(|c| !is_cont(c)).unwrap_or(inner.len());
            if inner[len..].starts_with('}') {
                let name = &inner[..len];
                match vars.get(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        out.push_str("${");
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &inner[len + 1..];
            } else {
                out.push('$');
                rest = after;
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The kernel's environment before the language rule: `inherited`, overridden by `spec_env`
/// with each value [`safe_substitute`]d against `inherited` (never against other spec
/// entries).
pub fn substitute_env(
    spec_env: &BTreeMap<String, String>,
    inherited: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = inherited.clone();
    for (k, v) in spec_env {
        env.insert(k.clone(), safe_substitute(v, inherited));
    }
    env
}

/// Jupyter's last step: drop `PYTHONEXECUTABLE` when `language` (lowercased) starts with
/// `python`.
pub fn apply_language_rules(env: &mut BTreeMap<String, String>, language: &str) {
    if language.to_lowercase().starts_with("python") {
        env.remove("PYTHONEXECUTABLE");
    }
}

/// [`substitute_env`] followed by [`apply_language_rules`].
pub fn kernel_env(
    spec_env: &BTreeMap<String, String>,
    language: &str,
    inherited: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = substitute_env(spec_env, inherited);
    apply_language_rules(&mut env, language);
    env
}
