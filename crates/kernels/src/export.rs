//! `kernels export NAME`: what it takes to recreate a kernel's environment and kernel
//! elsewhere, read from disk (no conda, pip or Python is started).
//!
//! * conda environments: the package specs the user asked for (the `# update specs` and
//!   `# remove specs` lines of `conda-meta/history`, as `conda env export --from-history`
//!   reads them; every installed package pinned when the history has none, as after a
//!   clone), Python pinned to the installed `X.Y`, the channels the packages came from
//!   (`conda-meta/*.json` `channel`), and the Python distributions pip or uv installed
//!   (`*.dist-info/INSTALLER` other than `conda`), pinned;
//! * venvs (and other Python prefixes): every installed distribution pinned, `pip`,
//!   `setuptools` and `wheel` left out as `pip freeze` does, and the Python `X.Y`;
//! * the kernel's display name and its own `env` variables (those not baked from activation).
//!
//! [`EnvExport::render`] writes one of three formats: `environment.yml` (`kernels add NAME
//! -f FILE`, conda), a pip requirements file (`kernels add NAME --backend venv -r FILE`), or
//! a `kernels.toml` (`kernels apply FILE`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use envs::Language;
use kernelspec::{KernelName, KernelSpec};

use crate::spec_for_env::{default_display_name, major_minor_text, ManagedMeta};

/// The formats `kernels export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// A conda `environment.yml`.
    EnvironmentYml,
    /// A pip requirements file (`name==version` lines).
    Requirements,
    /// A `kernels.toml` with one `[[kernel]]`.
    KernelsToml,
}

/// Distributions `pip freeze` leaves out.
const FREEZE_SKIP: &[&str] = &["pip", "setuptools", "wheel", "distribute"];

/// Everything an export says about one kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvExport {
    /// The kernel name.
    pub name: KernelName,
    /// The display name, when it is not the default one.
    pub display_name: Option<String>,
    /// The environment's prefix (for the header comment).
    pub prefix: PathBuf,
    /// A conda-family environment (`conda-meta/history`).
    pub conda: bool,
    /// The backend word for `kernels.toml` (`conda`, `mamba`, `micromamba`, `rattler`,
    /// `venv`).
    pub backend: &'static str,
    /// Python `X.Y`, when known.
    pub python: Option<String>,
    /// conda specs asked for (without python).
    pub conda_specs: Vec<String>,
    /// conda channels the packages came from.
    pub channels: Vec<String>,
    /// Pinned Python distributions to install with pip (`name==version`).
    pub pip: Vec<String>,
    /// Every installed distribution, pinned (for the requirements format).
    pub all_pip: Vec<String>,
    /// The kernel's own variables.
    pub env: BTreeMap<String, String>,
}

/// An environment that cannot be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The prefix is not an environment.
    #[error("{} is not a Python environment (no conda-meta/history, pyvenv.cfg or bin/python)", .prefix.display())]
    NotAnEnv {
        /// The prefix.
        prefix: PathBuf,
    },
}

impl EnvExport {
    /// Reads the environment at `prefix` behind kernel `name` with spec `spec`.
    pub fn read(
        name: &KernelName,
        spec: &KernelSpec,
        prefix: &Path,
    ) -> Result<EnvExport, ExportError> {
        let env = envs::Environment::inspect(prefix).ok_or_else(|| ExportError::NotAnEnv {
            prefix: prefix.to_path_buf(),
        })?;
        let conda = prefix.join("conda-meta/history").is_file();
        let python = env.python_version.as_deref().and_then(major_minor_text);
        let meta = ManagedMeta::from_spec(spec);
        let backend = match meta.as_ref().map(|m| m.backend.as_str()) {
            // The backend that made it recreates it: rattler needs no conda either.
            Some(b @ ("mamba" | "micromamba" | "rattler")) => b,
            _ if conda => "conda",
            _ => "venv",
        };
        let installers = dist_installers(prefix);
        let all_pip: Vec<String> = installers
            .iter()
            .filter(|((n, _), _)| !FREEZE_SKIP.contains(&n.as_str()))
            .map(|((n, v), _)| format!("{n}=={v}"))
            .collect();
        let (conda_specs, channels, pip) = if conda {
            let conda_names: BTreeSet<String> = envs::conda_packages(prefix)
                .into_iter()
                .map(|(n, _)| envs::normalize_name(&n))
                .collect();
            let pip = installers
                .iter()
                .filter(|((n, _), inst)| {
                    inst.as_deref() != Some("conda") && !conda_names.contains(n)
                })
                .filter(|((n, _), _)| !FREEZE_SKIP.contains(&n.as_str()))
                .map(|((n, v), _)| format!("{n}=={v}"))
                .collect();
            (requested_specs(prefix), conda_channels(prefix), pip)
        } else {
            (Vec::new(), Vec::new(), all_pip.clone())
        };
        let language = if spec.language.eq_ignore_ascii_case("r") {
            Language::R
        } else {
            Language::Python
        };
        let display_name =
            Some(spec.display_name.clone()).filter(|d| *d != default_display_name(language, name));
        let baked: BTreeSet<&str> = meta
            .as_ref()
            .map(|m| m.activation.vars.iter().map(String::as_str).collect())
            .unwrap_or_default();
        // A kernel `kernels` did not make has no record of which variables are activation
        // (they name this machine's paths), so only ours carry their variables over.
        let env = match &meta {
            Some(_) => spec
                .env
                .iter()
                .filter(|(k, _)| !baked.contains(k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            None => BTreeMap::new(),
        };
        Ok(EnvExport {
            name: name.clone(),
            display_name,
            prefix: prefix.to_path_buf(),
            conda,
            backend,
            python,
            conda_specs,
            channels,
            pip,
            all_pip,
            env,
        })
    }

    /// The format a plain `kernels export` writes: `environment.yml` for a conda
    /// environment, requirements for anything else.
    pub fn default_format(&self) -> ExportFormat {
        if self.conda {
            ExportFormat::EnvironmentYml
        } else {
            ExportFormat::Requirements
        }
    }

    /// The file text in `format`.
    pub fn render(&self, format: ExportFormat) -> String {
        match format {
            ExportFormat::EnvironmentYml => self.environment_yml(),
            ExportFormat::Requirements => self.requirements(),
            ExportFormat::KernelsToml => self.kernels_toml(),
        }
    }

    fn header(&self, recreate: &str) -> String {
        format!(
            "# Exported by `kernels export {}` from {}.\n# Recreate with: {recreate}\n",
            self.name,
            self.prefix.display()
        )
    }

    fn python_spec(&self) -> String {
        match &self.python {
            Some(v) => format!("python={v}"),
            None => "python".to_owned(),
        }
    }

    fn environment_yml(&self) -> String {
        let mut out = self.header(&format!("kernels add {} -f FILE", self.name));
        let _ = writeln!(out, "name: {}", quote(self.name.as_str()));
        if !self.channels.is_empty() {
            out.push_str("channels:\n");
            for c in &self.channels {
                let _ = writeln!(out, "  - {}", quote(c));
            }
        }
        out.push_str("dependencies:\n");
        let _ = writeln!(out, "  - {}", quote(&self.python_spec()));
        let mut specs: Vec<&str> = self.conda_specs.iter().map(String::as_str).collect();
        if !specs
            .iter()
            .any(|s| envs::conda_spec_name(s).as_deref() == Some("pip"))
        {
            specs.insert(0, "pip");
        }
        for s in specs {
            let _ = writeln!(out, "  - {}", quote(s));
        }
        if !self.pip.is_empty() {
            out.push_str("  - pip:\n");
            for p in &self.pip {
                let _ = writeln!(out, "    - {}", quote(p));
            }
        }
        out
    }

    fn requirements(&self) -> String {
        let mut out = self.header(&format!(
            "kernels add {} --backend venv{} -r FILE",
            self.name,
            self.python
                .as_deref()
                .map(|v| format!(" --python {v}"))
                .unwrap_or_default()
        ));
        for p in &self.all_pip {
            out.push_str(p);
            out.push('\n');
        }
        out
    }

    fn kernels_toml(&self) -> String {
        let mut out = self.header("kernels apply FILE");
        out.push_str("version = 1\n\n[[kernel]]\n");
        let _ = writeln!(out, "name = {}", quote(self.name.as_str()));
        if let Some(d) = &self.display_name {
            let _ = writeln!(out, "display_name = {}", quote(d));
        }
        let _ = writeln!(out, "backend = {}", quote(self.backend));
        if let Some(v) = &self.python {
            let _ = writeln!(out, "python = {}", quote(v));
        }
        let list = |items: &[String]| {
            let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
            format!("[{}]", quoted.join(", "))
        };
        if !self.conda_specs.is_empty() {
            let _ = writeln!(out, "packages = {}", list(&self.conda_specs));
        }
        if !self.channels.is_empty() {
            let _ = writeln!(out, "channels = {}", list(&self.channels));
        }
        if !self.pip.is_empty() {
            let _ = writeln!(out, "pip = {}", list(&self.pip));
        }
        if !self.env.is_empty() {
            let pairs: Vec<String> = self
                .env
                .iter()
                .map(|(k, v)| format!("{k} = {}", quote(v)))
                .collect();
            let _ = writeln!(out, "env = {{ {} }}", pairs.join(", "));
        }
        out
    }
}

/// A double-quoted string valid in both YAML and TOML (JSON escapes).
fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// `(normalised name, version)` of every distribution in the prefix's site-packages, with
/// the content of its `INSTALLER` file (`pip`, `uv`, `conda`), sorted by name.
pub fn dist_installers(prefix: &Path) -> BTreeMap<(String, String), Option<String>> {
    let mut by_dir: BTreeMap<String, Option<String>> = BTreeMap::new();
    for sp in envs::site_packages_dirs(prefix) {
        let Ok(rd) = std::fs::read_dir(&sp) else {
            continue;
        };
        for e in rd.flatten() {
            let file_name = e.file_name();
            let Some(stem) = file_name
                .to_str()
                .and_then(|n| n.strip_suffix(".dist-info"))
            else {
                continue;
            };
            let installer = std::fs::read_to_string(e.path().join("INSTALLER"))
                .ok()
                .map(|t| t.trim().to_owned());
            by_dir.insert(
                envs::normalize_name(stem.split('-').next().unwrap_or(stem)),
                installer,
            );
        }
    }
    envs::installed_packages(prefix)
        .into_iter()
        .map(|(n, v)| {
            let installer = by_dir.get(&n).cloned().flatten();
            ((n, v), installer)
        })
        .collect()
}

/// The conda specs asked for in the prefix's history (without `python`, whose version the
/// export pins); every installed package, pinned, when the history records none.
pub fn requested_specs(prefix: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(prefix.join("conda-meta/history")).unwrap_or_default();
    let mut specs = history_specs(&text);
    if specs.is_empty() {
        specs = envs::conda_packages(prefix)
            .into_iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
    }
    specs
        .into_iter()
        .filter(|s| envs::conda_spec_name(s).as_deref() != Some("python"))
        .collect()
}

/// Replays `# update specs: [...]` / `# remove specs: [...]` lines: the specs in force at the
/// end, in the order they were first asked for, keyed by package name.
pub fn history_specs(history: &str) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for line in history.lines() {
        let (update, list) = if let Some(rest) = line.strip_prefix("# update specs:") {
            (true, rest)
        } else if let Some(rest) = line.strip_prefix("# remove specs:") {
            (false, rest)
        } else {
            continue;
        };
        for spec in parse_py_list(list) {
            let Some(name) = envs::conda_spec_name(&spec) else {
                continue;
            };
            if update {
                if !by_name.contains_key(&name) {
                    order.push(name.clone());
                }
                by_name.insert(name, spec);
            } else {
                by_name.remove(&name);
                order.retain(|n| *n != name);
            }
        }
    }
    order
        .into_iter()
        .filter_map(|n| by_name.remove(&n))
        .collect()
}

/// `['a', "b>=1"]` → `a`, `b>=1`.
fn parse_py_list(text: &str) -> Vec<String> {
    let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
    inner
        .split(',')
        .map(|s| {
            s.trim()
                .trim_matches(|c| c == '\'' || c == '"')
                .trim()
                .to_owned()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// The channels the prefix's conda packages came from (`conda-meta/*.json` `channel`, the
/// platform subdir dropped, `https://conda.anaconda.org/NAME` shortened to `NAME`), most used
/// first.
pub fn conda_channels(prefix: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(prefix.join("conda-meta")) else {
        return Vec::new();
    };
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let Some(channel) = std::fs::read(&p)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| {
                v.get("channel")
                    .and_then(|c| c.as_str())
                    .map(normalize_channel)
            })
        else {
            continue;
        };
        if !channel.is_empty() && channel != "pypi" && channel != "<unknown>" {
            *counts.entry(channel).or_default() += 1;
        }
    }
    let mut channels: Vec<(String, usize)> = counts.into_iter().collect();
    channels.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    channels.into_iter().map(|(c, _)| c).collect()
}

fn normalize_channel(raw: &str) -> String {
    let mut c = raw.trim().trim_end_matches('/');
    if let Some((head, last)) = c.rsplit_once('/') {
        if last == "noarch" || is_subdir(last) {
            c = head;
        }
    }
    c.strip_prefix("https://conda.anaconda.org/")
        .unwrap_or(c)
        .to_owned()
}

fn is_subdir(s: &str) -> bool {
    ["linux-", "osx-", "win-", "emscripten-", "wasi-", "zos-"]
        .iter()
        .any(|p| s.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_replayed_like_from_history() {
        let h = "==> 2026 <==\n# cmd: conda create\n+x::python-3.11\n\
                 # update specs: ['python', 'pip', 'ipykernel', 'numpy']\n\
                 ==> 2026 <==\n# update specs: [\"numpy>=2\", 'pandas']\n\
                 # remove specs: ['pip']\n";
        assert_eq!(
            history_specs(h),
            ["python", "ipykernel", "numpy>=2", "pandas"]
        );
        assert!(history_specs("").is_empty());
    }

    #[test]
    fn channels_are_shortened() {
        assert_eq!(
            normalize_channel("https://conda.anaconda.org/conda-forge/linux-64"),
            "conda-forge"
        );
        assert_eq!(
            normalize_channel("file:///srv/channel/noarch"),
            "file:///srv/channel"
        );
        assert_eq!(normalize_channel("conda-forge"), "conda-forge");
    }

    #[test]
    fn quoting_is_valid_toml() {
        let q = quote("a\"b\\c");
        let v: toml::Value = toml::from_str(&format!("k = {q}")).unwrap();
        assert_eq!(v["k"].as_str(), Some("a\"b\\c"));
    }
}
