//! The environment a prefix's kernel should run with, as if the env were activated.
//!
//! **Method B (computed, no subprocess)**, always:
//! * `PATH` = `<prefix>/bin` prepended;
//! * conda envs: `CONDA_PREFIX`, `CONDA_SHLVL=1`, `CONDA_DEFAULT_ENV` (conda's activation
//!   rule: `base` for a root, the directory name when the parent directory is called
//!   `envs`, else the full path) and `CONDA_PROMPT_MODIFIER="(<that>) "`; venvs:
//!   `VIRTUAL_ENV` and `VIRTUAL_ENV_PROMPT` (`prompt` of `pyvenv.cfg`, else the directory
//!   name). `CONDA_EXE`/`_CONDA_ROOT` are not set (mamba does not set them either);
//! * the variables of `etc/conda/env_vars.d/*.json` (sorted), then `conda-meta/state`'s
//!   `env_vars` (which win); `***unset***` values and `PATH` are dropped, names are
//!   upper-cased — as conda does.
//!
//! **Method A (scripts)**, when `etc/conda/activate.d/*.sh` exist: `bash --noprofile
//! --norc` is started from the allowlisted environment plus the Method-B variables,
//! sources each script in sorted order and prints `env -0`; the variables the scripts
//! added or changed are merged in. conda itself is not needed. Variables a script
//! *unsets* cannot be expressed and are ignored.
//!
//! **Values are templates for jupyter_client**, which expands a kernelspec's `env` with
//! `string.Template.safe_substitute` against the server's environment at launch: a literal
//! `$` is written `$$`, and an inherited value is referenced, not copied — `PATH` is baked
//! as `<prefix>/bin:${PATH}`, and when a script's result for a variable ends (or begins)
//! with the value that variable had before, that part is replaced by `${VAR}` (e.g.
//! `LD_LIBRARY_PATH=/env/lib:${LD_LIBRARY_PATH}`). Launching without Jupyter expands them
//! with `kernelspec::kernel_env`, the same rules.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::discover::{pyvenv_cfg_value, EnvKind, Environment};
use crate::error::EnvError;
use crate::process::{self, allowlisted_env, CancelToken, NoObserver, ToolCommand};
use crate::vars::{self, HostEnv};

const UNSET_MARKER: &str = "***unset***";
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);
/// Variables bash sets for itself; never part of an activation.
const SHELL_OWN: &[&str] = &["PWD", "OLDPWD", "SHLVL", "_"];

/// How an [`Activation`] was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActivationMethod {
    /// Computed from files only (no activate.d scripts).
    Computed,
    /// activate.d scripts were run in bash.
    Scripts,
}

/// The variables that activate an environment, in kernelspec `env` template form.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Activation {
    /// Variable → template value (see the module docs for `${VAR}` and `$$`).
    pub vars: BTreeMap<String, String>,
    /// The activate.d scripts that were run.
    pub scripts: Vec<PathBuf>,
    /// How this was computed.
    pub method: ActivationMethod,
}

/// Escapes `$` for a `string.Template`.
pub fn template_escape(s: &str) -> String {
    s.replace('$', "$$")
}

/// conda's `CONDA_DEFAULT_ENV` for a prefix (see the module docs).
pub fn default_env_name(env: &Environment) -> String {
    if env.kind == EnvKind::CondaBase {
        return "base".to_owned();
    }
    let parent_is_envs = env
        .prefix
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == "envs");
    match env.prefix.file_name() {
        Some(n) if parent_is_envs => n.to_string_lossy().into_owned(),
        _ => env.prefix.display().to_string(),
    }
}

/// Variables from `etc/conda/env_vars.d/*.json` then `conda-meta/state` (raw values).
pub fn env_file_vars(prefix: &Path) -> BTreeMap<String, String> {
    let mut merged: BTreeMap<String, String> = BTreeMap::new();
    let mut apply = |obj: &serde_json::Map<String, serde_json::Value>| {
        for (k, v) in obj {
            let value = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            merged.insert(k.to_uppercase(), value);
        }
    };
    for file in sorted_entries(&prefix.join("etc/conda/env_vars.d"), |_| true) {
        if let Some(serde_json::Value::Object(o)) = read_json(&file) {
            apply(&o);
        }
    }
    if let Some(serde_json::Value::Object(state)) = read_json(&prefix.join("conda-meta/state")) {
        if let Some(serde_json::Value::Object(o)) = state.get("env_vars") {
            apply(o);
        }
    }
    merged.retain(|k, v| v != UNSET_MARKER && k != vars::PATH);
    merged
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&fs::read_to_string(path).ok()?).ok()
}

fn sorted_entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && keep(p))
        .collect();
    v.sort();
    v
}

/// The `etc/conda/activate.d/*.sh` scripts of a prefix, in the order conda runs them.
pub fn activate_scripts(prefix: &Path) -> Vec<PathBuf> {
    sorted_entries(&prefix.join("etc/conda/activate.d"), |p| {
        p.extension().is_some_and(|e| e == "sh")
    })
}

/// Method-B variables as concrete values (PATH fully expanded against `host`).
fn computed_vars(env: &Environment, host: &HostEnv) -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    let prefix = env.prefix.display().to_string();
    match env.kind {
        EnvKind::CondaBase | EnvKind::Conda => {
            let name = default_env_name(env);
            v.insert("CONDA_PREFIX".to_owned(), prefix.clone());
            v.insert("CONDA_SHLVL".to_owned(), "1".to_owned());
            v.insert("CONDA_PROMPT_MODIFIER".to_owned(), format!("({name}) "));
            v.insert("CONDA_DEFAULT_ENV".to_owned(), name);
        }
        EnvKind::Venv => {
            let prompt = pyvenv_cfg_value(&env.prefix, "prompt")
                .map(|p| p.trim_matches(|c| c == '\'' || c == '"').to_owned())
                .or_else(|| {
                    env.prefix
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                })
                .unwrap_or_default();
            v.insert("VIRTUAL_ENV".to_owned(), prefix.clone());
            v.insert("VIRTUAL_ENV_PROMPT".to_owned(), prompt);
        }
        EnvKind::Unknown => {}
    }
    v.extend(env_file_vars(&env.prefix));
    let bin = env.prefix.join("bin").display().to_string();
    let host_path = host.path_string();
    let path = if host_path.is_empty() {
        bin
    } else {
        format!("{bin}:{host_path}")
    };
    v.insert(vars::PATH.to_owned(), path);
    v
}

/// Path-list variables whose inherited value is passed to activate.d scripts, so that
/// `export X=/env/lib:$X` can be baked as `/env/lib:${X}`.
const PATH_LISTS: &[&str] = &[
    "LD_LIBRARY_PATH",
    "DYLD_LIBRARY_PATH",
    "LIBRARY_PATH",
    "CPATH",
    "PKG_CONFIG_PATH",
    "MANPATH",
    "INFOPATH",
    "XDG_DATA_DIRS",
];

/// The template form of `value` for variable `key`, given the inherited value it
/// extends: `head:${KEY}` or `${KEY}:tail` when `value` is the inherited value plus
/// entries joined with `:`, else `value` escaped.
fn templated(key: &str, value: &str, inherited: Option<&str>) -> String {
    if let Some(orig) = inherited.filter(|o| !o.is_empty() && *o != value) {
        if let Some(head) = value.strip_suffix(orig).filter(|h| h.ends_with(':')) {
            return format!("{}${{{key}}}", template_escape(head));
        }
        if let Some(tail) = value.strip_prefix(orig).filter(|t| t.starts_with(':')) {
            return format!("${{{key}}}{}", template_escape(tail));
        }
    }
    template_escape(value)
}

/// Computes the activation of `env` (see the module docs).
pub fn activate(env: &Environment, host: &HostEnv) -> Result<Activation, EnvError> {
    let computed = computed_vars(env, host);
    let scripts = activate_scripts(&env.prefix);
    if scripts.is_empty() {
        return Ok(computed_activation(&computed, host));
    }
    let host_path = host.path_string();
    let mut vars = computed_activation(&computed, host).vars;
    for (k, v) in run_scripts(env, host, &computed, &scripts)? {
        let inherited = if k == vars::PATH {
            Some(host_path.clone())
        } else if PATH_LISTS.contains(&k.as_str()) {
            host.vars.get(&k).cloned()
        } else {
            None
        };
        vars.insert(k.clone(), templated(&k, &v, inherited.as_deref()));
    }
    Ok(Activation {
        vars,
        scripts,
        method: ActivationMethod::Scripts,
    })
}

/// The activation an environment about to be made will have before any package adds an
/// activation script: the computed variables only. Runs nothing, whatever the prefix holds
/// now (a plan predicting a rebuild must not source a half-made environment's scripts).
pub fn predict_activation(env: &Environment, host: &HostEnv) -> Activation {
    computed_activation(&computed_vars(env, host), host)
}

/// The computed variables as kernel.json values (`PATH` extending the server's).
fn computed_activation(computed: &BTreeMap<String, String>, host: &HostEnv) -> Activation {
    let host_path = host.path_string();
    let vars = computed
        .iter()
        .map(|(k, v)| {
            let inherited = (k == vars::PATH).then_some(host_path.as_str());
            (k.clone(), templated(k, v, inherited))
        })
        .collect();
    Activation {
        vars,
        scripts: Vec::new(),
        method: ActivationMethod::Computed,
    }
}

/// Method A: source the scripts in bash and return what they added or changed.
fn run_scripts(
    env: &Environment,
    host: &HostEnv,
    computed: &BTreeMap<String, String>,
    scripts: &[PathBuf],
) -> Result<BTreeMap<String, String>, EnvError> {
    let bash =
        process::find_on_path("bash", &host.path).unwrap_or_else(|| PathBuf::from("/bin/bash"));
    let mut start = allowlisted_env(host);
    for k in PATH_LISTS {
        if let Some(v) = host.get(k) {
            start.insert((*k).to_owned(), v.to_owned());
        }
    }
    start.extend(computed.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut cmd = ToolCommand::new(&bash, host)
        .args([
            "--noprofile",
            "--norc",
            "-c",
            "__kernels_scripts=(\"$@\"); set --; for __kernels_f in \"${__kernels_scripts[@]}\"; do . \"$__kernels_f\"; done; unset __kernels_f __kernels_scripts; exec env -0",
            "kernels-activate",
        ])
        .args(scripts)
        .cwd(&env.prefix)
        .timeout(SCRIPT_TIMEOUT);
    for (k, v) in &start {
        cmd = cmd.env(k.clone(), v.clone());
    }
    let out = process::run_checked(&cmd, &CancelToken::new(), &NoObserver).map_err(|source| {
        EnvError::Process {
            action: format!("run the activation scripts of {}", env.prefix.display()),
            source,
        }
    })?;
    let mut changed = BTreeMap::new();
    for entry in out.stdout.split('\0').filter(|e| !e.is_empty()) {
        let Some((k, v)) = entry.split_once('=') else {
            continue;
        };
        if SHELL_OWN.contains(&k) {
            continue;
        }
        if start.get(k).map(String::as_str) != Some(v) {
            changed.insert(k.to_owned(), v.to_owned());
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templated_refers_to_inherited_values() {
        assert_eq!(
            templated("PATH", "/e/bin:/usr/bin", Some("/usr/bin")),
            "/e/bin:${PATH}"
        );
        assert_eq!(templated("X", "/a:/b", Some("/a")), "${X}:/b");
        assert_eq!(templated("X", "/ab", Some("/a")), "/ab");
        assert_eq!(templated("X", "cost $5", None), "cost $$5");
        assert_eq!(templated("X", "same", Some("same")), "same");
    }

    #[test]
    fn conda_env_computed() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("envs/ml");
        fs::create_dir_all(p.join("conda-meta")).unwrap();
        fs::write(p.join("conda-meta/history"), "").unwrap();
        fs::create_dir_all(p.join("etc/conda/env_vars.d")).unwrap();
        fs::write(
            p.join("etc/conda/env_vars.d/a.json"),
            r#"{"pkg_var": "frompkg", "OVER": "1", "PATH": "/x"}"#,
        )
        .unwrap();
        fs::write(
            p.join("conda-meta/state"),
            r#"{"env_vars": {"OVER": "2", "GONE": "***unset***", "lower_var": "x"}}"#,
        )
        .unwrap();
        let env = Environment::inspect(&p).unwrap();
        let host = HostEnv::from_vars([("PATH", "/usr/bin:/bin"), ("HOME", "/h")]);
        let a = activate(&env, &host).unwrap();
        assert_eq!(a.method, ActivationMethod::Computed);
        let expect: BTreeMap<String, String> = [
            ("CONDA_DEFAULT_ENV", "ml".to_owned()),
            ("CONDA_PREFIX", p.display().to_string()),
            ("CONDA_PROMPT_MODIFIER", "(ml) ".to_owned()),
            ("CONDA_SHLVL", "1".to_owned()),
            ("LOWER_VAR", "x".to_owned()),
            ("OVER", "2".to_owned()),
            ("PATH", format!("{}/bin:${{PATH}}", p.display())),
            ("PKG_VAR", "frompkg".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(a.vars, expect);
    }
}
