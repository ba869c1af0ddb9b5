//! `kernels add NAME --clone ENV`: a new environment as a copy of another one.
//!
//! [`CloneSource::resolve`] finds the source (read-only; it is never written to, so protected
//! environments may be cloned) from what the user typed, in this order: a path (it has a `/`
//! or starts with `~` or `.`), a kernel name (the environment that kernel runs in), a conda
//! environment name. The planner then copies it:
//!
//! * a conda environment, with a conda-family backend: the tool's own `create --clone SRC`
//!   (it links the same package builds from the package cache; nothing is solved again),
//!   then ipykernel and any extra packages in one `install`;
//! * anything else (a venv, or a conda environment copied into a venv): a fresh environment
//!   from the source's own base interpreter (venv; `python=X.Y` with conda) with every
//!   distribution of the source pinned (`name==version`), because venvs do not relocate.

use std::path::{Path, PathBuf};

use envs::HostEnv;
use kernelspec::Discovery;

use crate::export::dist_installers;
use crate::spec_for_env::{env_of_spec, major_minor_text, SpecEnv};

/// Distributions not copied by pin (the new environment's tools bring their own).
const NOT_PINNED: &[&str] = &["pip", "setuptools", "wheel", "distribute"];

/// The environment a clone copies, as read from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneSource {
    /// What the user typed.
    pub given: String,
    /// The source's absolute prefix.
    pub prefix: PathBuf,
    /// It is a conda-family environment (`conda-meta/history`).
    pub conda: bool,
    /// The interpreter a venv copy is built from: the base interpreter of a venv
    /// (`pyvenv.cfg` `home`), else the prefix's own `bin/python3`.
    pub base_python: Option<PathBuf>,
    /// Python `X.Y`.
    pub python_version: Option<String>,
    /// Every distribution, pinned (`name==version`), for a copy that reinstalls them.
    pub pinned: Vec<String>,
    /// ipykernel is installed in it.
    pub has_ipykernel: bool,
}

impl CloneSource {
    /// Finds the source `given` (see the module docs); `Err` says why it is not one.
    pub fn resolve(
        given: &str,
        host: &HostEnv,
        discovery: &Discovery,
    ) -> Result<CloneSource, String> {
        let prefix = if looks_like_path(given) {
            let expanded = match (given.strip_prefix("~/"), &host.home) {
                (Some(rest), Some(home)) => home.join(rest),
                _ => PathBuf::from(given),
            };
            envs::absolute(&expanded)
        } else if let Some(p) = kernel_env(given, host, discovery) {
            p
        } else if let Some(p) = conda_env_named(given, host) {
            p
        } else {
            return Err(format!(
                "{given:?} is no environment path, kernel name or conda environment name"
            ));
        };
        CloneSource::read(given, &prefix)
    }

    /// Reads the environment at `prefix`.
    pub fn read(given: &str, prefix: &Path) -> Result<CloneSource, String> {
        let env = envs::Environment::inspect(prefix)
            .ok_or_else(|| format!("{} is not an environment", prefix.display()))?;
        let conda = prefix.join("conda-meta/history").is_file();
        let python_version = env.python_version.as_deref().and_then(major_minor_text);
        let pinned = dist_installers(prefix)
            .into_keys()
            .filter(|(n, _)| !NOT_PINNED.contains(&n.as_str()))
            .map(|(n, v)| format!("{n}=={v}"))
            .collect();
        Ok(CloneSource {
            given: given.to_owned(),
            prefix: prefix.to_path_buf(),
            conda,
            base_python: base_python(prefix, python_version.as_deref()),
            python_version,
            pinned,
            has_ipykernel: env.has_ipykernel,
        })
    }
}

fn looks_like_path(given: &str) -> bool {
    given.contains('/') || given.starts_with('~') || given.starts_with('.')
}

/// The environment of the kernel `name`, when there is such a kernel.
fn kernel_env(name: &str, host: &HostEnv, discovery: &Discovery) -> Option<PathBuf> {
    let spec = discovery.get(name)?.spec.as_ref().ok()?;
    match env_of_spec(spec)? {
        SpecEnv::Prefix(p) => Some(p),
        SpecEnv::Name(n) => conda_env_named(&n, host),
    }
}

/// The prefix of the conda environment `name` (listed without starting conda).
fn conda_env_named(name: &str, host: &HostEnv) -> Option<PathBuf> {
    let tools = envs::locate(host, envs::BackendChoice::Auto);
    envs::list_envs(&tools, host, &[])
        .into_iter()
        .find(|e| e.name.as_deref() == Some(name))
        .map(|e| e.prefix.into_path_buf())
}

/// A venv's base interpreter (`pyvenv.cfg` `home` + `python3.X`, else `python3`); for any
/// other prefix its own `bin/python3.X` / `bin/python3`.
fn base_python(prefix: &Path, version: Option<&str>) -> Option<PathBuf> {
    let names: Vec<String> = version
        .map(|v| format!("python{v}"))
        .into_iter()
        .chain(["python3".to_owned(), "python".to_owned()])
        .collect();
    let dir = match envs::pyvenv_cfg_value(prefix, "home") {
        Some(home) => PathBuf::from(home),
        None => prefix.join("bin"),
    };
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_told_from_names() {
        assert!(looks_like_path("/opt/envs/x"));
        assert!(looks_like_path("./x"));
        assert!(looks_like_path("~/envs/x"));
        assert!(!looks_like_path("azureml_py38"));
    }

    #[test]
    fn a_venv_source_is_read_with_its_base_interpreter_and_pins() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base/bin");
        std::fs::create_dir_all(&base).unwrap();
        std::fs::write(base.join("python3.11"), "").unwrap();
        let v = dir.path().join("v");
        let sp = v.join("lib/python3.11/site-packages");
        for (d, meta) in [
            (
                "ipykernel-7.4.0.dist-info",
                "Name: ipykernel\nVersion: 7.4.0\n\n",
            ),
            ("pip-26.3.dist-info", "Name: pip\nVersion: 26.3\n\n"),
        ] {
            std::fs::create_dir_all(sp.join(d)).unwrap();
            std::fs::write(sp.join(d).join("METADATA"), meta).unwrap();
        }
        std::fs::create_dir_all(sp.join("ipykernel")).unwrap();
        std::fs::create_dir_all(v.join("bin")).unwrap();
        std::fs::write(v.join("bin/python"), "").unwrap();
        std::fs::write(
            v.join("pyvenv.cfg"),
            format!("home = {}\nversion_info = 3.11.7\n", base.display()),
        )
        .unwrap();
        let src = CloneSource::read("v", &v).unwrap();
        assert!(!src.conda);
        assert_eq!(src.python_version.as_deref(), Some("3.11"));
        assert_eq!(src.base_python, Some(base.join("python3.11")));
        assert_eq!(src.pinned, ["ipykernel==7.4.0"]);
        assert!(CloneSource::read("x", &dir.path().join("nothing")).is_err());
    }
}
