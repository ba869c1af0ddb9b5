//! What the user asks for: one kernel (and the environment behind it), as typed data.
//!
//! The CLI (`kernels add`, `kernels install`) and the declarative file (`kernels apply`) build
//! [`KernelRequest`]s; [`crate::plan()`] turns a list of them plus a [`crate::Snapshot`] into a
//! [`crate::Plan`]. Nothing here touches the machine.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use envs::{BackendKind, BackendPreference, Language};
use kernelspec::KernelName;
use serde::Serialize;

/// Which tool creates a new environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// A conda-family tool when one is found, else venv.
    #[default]
    Auto,
    /// conda.
    Conda,
    /// mamba.
    Mamba,
    /// micromamba.
    Micromamba,
    /// `python -m venv` + pip, or uv when it is available.
    Venv,
}

impl BackendChoice {
    /// The tool search this choice asks for.
    pub fn preference(self) -> BackendPreference {
        match self {
            BackendChoice::Auto => BackendPreference::Auto,
            BackendChoice::Conda => BackendPreference::Conda,
            BackendChoice::Mamba => BackendPreference::Mamba,
            BackendChoice::Micromamba => BackendPreference::Micromamba,
            BackendChoice::Venv => BackendPreference::Venv,
        }
    }

    /// The choice that asks for exactly `kind` (a repair keeps the recorded backend).
    pub fn of_kind(kind: BackendKind) -> BackendChoice {
        match kind {
            BackendKind::Conda => BackendChoice::Conda,
            BackendKind::Mamba => BackendChoice::Mamba,
            BackendKind::Micromamba => BackendChoice::Micromamba,
            BackendKind::Venv => BackendChoice::Venv,
        }
    }

    /// True when an environment made by `kind` satisfies this choice.
    pub fn accepts(self, kind: BackendKind) -> bool {
        match self {
            BackendChoice::Auto => true,
            BackendChoice::Conda => kind == BackendKind::Conda,
            BackendChoice::Mamba => kind == BackendKind::Mamba,
            BackendChoice::Micromamba => kind == BackendKind::Micromamba,
            BackendChoice::Venv => kind == BackendKind::Venv,
        }
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Conda => "conda",
            BackendChoice::Mamba => "mamba",
            BackendChoice::Micromamba => "micromamba",
            BackendChoice::Venv => "venv",
        })
    }
}

/// Where the kernel's environment comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EnvSource {
    /// An environment `kernels` creates (or finds already created) at `prefix`, or at the
    /// backend's default location for the kernel name when `prefix` is `None`:
    /// `<venv home>/NAME` for venv (see [`envs::venv_home`]), `<envs dir>/NAME` for the conda
    /// family (the first envs dir that has `NAME`, else the first writable one, as conda
    /// decides for `-n NAME`). An environment already at that place is registered, never
    /// re-created.
    New {
        /// The tool to create it with.
        backend: BackendChoice,
        /// An explicit prefix.
        prefix: Option<PathBuf>,
    },
    /// An environment that exists already (`--existing PATH`). It is registered; only
    /// missing packages are installed into it.
    Existing {
        /// Its prefix.
        path: PathBuf,
    },
}

/// What to install into the environment (on top of the kernel package, which is always
/// included: ipykernel for Python, IRkernel for R).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Packages {
    /// Python version request for a new environment (`3.11`).
    pub python: Option<String>,
    /// conda-family packages (with the venv backend: installed from PyPI).
    pub conda: Vec<String>,
    /// pip packages (installed in one pip/uv call after the conda packages).
    pub pip: Vec<String>,
    /// A pip requirements file.
    pub requirements: Option<PathBuf>,
    /// A conda environment file (conda family only).
    pub environment_file: Option<PathBuf>,
    /// conda channels.
    pub channels: Vec<String>,
}

/// Which requested packages go to the installer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallMode {
    /// Only packages no package of that name is installed for (`add`, `apply`: a satisfied
    /// request starts no installer).
    #[default]
    Missing,
    /// Also every package given with a version constraint (`kernels install "numpy>=2"`: the
    /// installer decides whether the installed version satisfies it). Bare names that are
    /// installed are still skipped.
    Requested,
}

/// Where the kernelspec goes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(tag = "kind", content = "dir", rename_all = "snake_case")]
pub enum KernelScope {
    /// The user's Jupyter data dir (`--user`, the default).
    #[default]
    User,
    /// The environment's own `share/jupyter/kernels` (`--sys-prefix`).
    SysPrefix,
    /// `DIR/share/jupyter/kernels` (`--kernel-prefix DIR`).
    Prefix(PathBuf),
    /// Exactly this kernels directory (used to rewrite a kernel where it already is).
    KernelsDir(PathBuf),
}

/// Who asked; written to `metadata.kernels.source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// `kernels add` (and `kernels install`).
    #[default]
    Add,
    /// `kernels apply`.
    Apply,
}

impl Origin {
    /// The word written into kernel.json.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Add => "add",
            Origin::Apply => "apply",
        }
    }
}

/// One kernel, and the environment behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelRequest {
    /// The kernel name (also the environment's name at the default location).
    pub name: KernelName,
    /// Display name; default "Python (NAME)" or "R (NAME)".
    pub display_name: Option<String>,
    /// The kernel language.
    pub language: Language,
    /// Where the environment comes from.
    pub env: EnvSource,
    /// What to install into it.
    pub packages: Packages,
    /// Which requested packages reach the installer.
    pub install_mode: InstallMode,
    /// Extra variables for the kernel (`--env KEY=VALUE`); they win over activation.
    pub kernel_env: BTreeMap<String, String>,
    /// Where the kernelspec goes.
    pub scope: KernelScope,
    /// Whether to write the kernelspec. `false` only for `kernels install` into the
    /// environment of a kernel `kernels` did not make (its kernel.json is left alone).
    pub register: bool,
    /// Who asked.
    pub origin: Origin,
    /// For `kernels apply`: the canonical path of the kernels.toml, recorded as
    /// `metadata.kernels.apply_file` so `apply --prune` removes only that file's kernels.
    pub apply_file: Option<PathBuf>,
    /// Whether a new venv may use (and first install) kernels' own uv when the user has no
    /// uv (`--no-provision-uv`, `provision_uv = false`; `KERNELS_NO_PROVISION_UV` also
    /// turns it off). Default `true`.
    pub provision_uv: bool,
    /// `--clone ENV`: a new environment as a copy of this one (a path, a kernel name or a
    /// conda environment name; see [`crate::clone`]).
    pub clone: Option<String>,
}

impl KernelRequest {
    /// A Python kernel `name` in a new environment at the default place, chosen by `auto`,
    /// registered for the user.
    pub fn new(name: KernelName) -> KernelRequest {
        KernelRequest {
            name,
            display_name: None,
            language: Language::Python,
            env: EnvSource::New {
                backend: BackendChoice::Auto,
                prefix: None,
            },
            packages: Packages::default(),
            install_mode: InstallMode::Missing,
            kernel_env: BTreeMap::new(),
            scope: KernelScope::User,
            register: true,
            origin: Origin::Add,
            apply_file: None,
            provision_uv: true,
            clone: None,
        }
    }

    /// Checks what can be checked without looking at the machine.
    pub fn validate(&self) -> Result<(), RequestError> {
        let name = self.name.as_str();
        if let Some(d) = &self.display_name {
            if d.trim().is_empty() {
                return Err(RequestError::EmptyDisplayName {
                    name: name.to_owned(),
                });
            }
        }
        for key in self.kernel_env.keys() {
            if !is_env_key(key) {
                return Err(RequestError::BadEnvKey {
                    name: name.to_owned(),
                    key: key.clone(),
                });
            }
        }
        let p = &self.packages;
        check_specs(name, p)?;
        if self.language == Language::R && (!p.pip.is_empty() || p.requirements.is_some()) {
            return Err(RequestError::PipForR {
                name: name.to_owned(),
            });
        }
        if let EnvSource::New {
            backend: BackendChoice::Venv,
            ..
        } = self.env
        {
            if self.language == Language::R {
                return Err(RequestError::VenvCannot {
                    name: name.to_owned(),
                    what: "create R environments",
                });
            }
            if p.environment_file.is_some() {
                return Err(RequestError::VenvCannot {
                    name: name.to_owned(),
                    what: "use a conda environment file",
                });
            }
        }
        if let Some(source) = &self.clone {
            let what = if matches!(self.env, EnvSource::Existing { .. }) {
                Some("--existing")
            } else if p.environment_file.is_some() {
                Some("--file")
            } else if p.python.is_some() {
                Some("--python")
            } else if source.trim().is_empty() {
                Some("an empty source")
            } else {
                None
            };
            if let Some(what) = what {
                return Err(RequestError::CloneCannot {
                    name: name.to_owned(),
                    what,
                });
            }
        }
        if matches!(self.env, EnvSource::Existing { .. })
            && (p.environment_file.is_some() || p.python.is_some())
        {
            return Err(RequestError::ExistingCannot {
                name: name.to_owned(),
            });
        }
        Ok(())
    }
}

/// What a package spec, channel or version may not be: empty, starting with `-` (an installer
/// would read it as an option: `--pip=-r/etc/shadow`, `--index-url=...`), or holding a control
/// character. Returns why, or `None` when `spec` is acceptable.
pub fn spec_problem(spec: &str) -> Option<&'static str> {
    let trimmed = spec.trim();
    if trimmed.is_empty() {
        Some("it is empty")
    } else if trimmed.starts_with('-') {
        Some("it starts with '-', so the installer would read it as an option")
    } else if spec.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    }
}

/// Every package spec, channel and Python version of `p` must be a spec, never an option.
fn check_specs(name: &str, p: &Packages) -> Result<(), RequestError> {
    let lists: [(&'static str, &[String]); 3] = [
        ("package", &p.conda),
        ("pip package", &p.pip),
        ("channel", &p.channels),
    ];
    let python = p.python.iter().map(|v| ("Python version", v));
    let all = lists
        .iter()
        .flat_map(|(what, items)| items.iter().map(move |i| (*what, i)))
        .chain(python);
    for (what, spec) in all {
        if let Some(why) = spec_problem(spec) {
            return Err(RequestError::BadSpec {
                name: name.to_owned(),
                what,
                spec: spec.clone(),
                why,
            });
        }
    }
    Ok(())
}

/// `true` for a POSIX environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_env_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Parses one `KEY=VALUE` (`--env`). The value may be empty and may contain `=`.
pub fn parse_env_assignment(text: &str) -> Result<(String, String), RequestError> {
    match text.split_once('=') {
        Some((k, v)) if is_env_key(k) => Ok((k.to_owned(), v.to_owned())),
        _ => Err(RequestError::BadEnvAssignment {
            text: text.to_owned(),
        }),
    }
}

/// A request that cannot be planned on any machine (a usage error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// `--env` without `KEY=`.
    #[error("invalid --env {text:?}: expected KEY=VALUE with KEY made of letters, digits and _")]
    BadEnvAssignment {
        /// What was given.
        text: String,
    },
    /// A kernel variable name that is not a variable name.
    #[error("kernel `{name}`: invalid environment variable name {key:?}")]
    BadEnvKey {
        /// The kernel.
        name: String,
        /// The key.
        key: String,
    },
    /// A package spec, channel or version that is not one (it would be an installer option).
    #[error("kernel `{name}`: invalid {what} {spec:?}: {why}")]
    BadSpec {
        /// The kernel.
        name: String,
        /// Which list it is in.
        what: &'static str,
        /// What was given.
        spec: String,
        /// What is wrong.
        why: &'static str,
    },
    /// An empty display name.
    #[error("kernel `{name}`: the display name is empty")]
    EmptyDisplayName {
        /// The kernel.
        name: String,
    },
    /// pip packages for an R kernel.
    #[error("kernel `{name}`: pip packages and requirements files need a Python kernel")]
    PipForR {
        /// The kernel.
        name: String,
    },
    /// Something the venv backend cannot do.
    #[error("kernel `{name}`: the venv backend cannot {what}")]
    VenvCannot {
        /// The kernel.
        name: String,
        /// What it cannot do.
        what: &'static str,
    },
    /// `--clone` with something that describes the environment otherwise.
    #[error("kernel `{name}`: --clone copies an environment; it cannot be used with {what}")]
    CloneCannot {
        /// The kernel.
        name: String,
        /// The conflicting option.
        what: &'static str,
    },
    /// `--python`/`--file` with `--existing`.
    #[error("kernel `{name}`: --python and --file describe a new environment; they cannot be used with --existing")]
    ExistingCannot {
        /// The kernel.
        name: String,
    },
}

impl RequestError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            RequestError::VenvCannot { .. } => {
                Some("use --backend conda, mamba or micromamba (or auto with one installed)".into())
            }
            RequestError::CloneCannot { .. } => Some(
                "the copy gets the source's Python and packages; add more with -p/--pip".into(),
            ),
            RequestError::PipForR { .. } => {
                Some("R packages come from conda: use -p r-PACKAGE".into())
            }
            RequestError::BadSpec { .. } => Some(
                "give package specs only (name, name==1.0, name>=1); installer options such as \
                 an index URL belong in the installer's own configuration (pip.conf, .condarc)"
                    .into(),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> KernelName {
        KernelName::parse(s).unwrap()
    }

    #[test]
    fn env_assignments() {
        assert_eq!(
            parse_env_assignment("A=b=c").unwrap(),
            ("A".to_owned(), "b=c".to_owned())
        );
        assert_eq!(
            parse_env_assignment("_X=").unwrap(),
            ("_X".to_owned(), String::new())
        );
        for bad in ["A", "=x", "1A=x", "A-B=x", ""] {
            assert!(parse_env_assignment(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn machine_independent_conflicts_are_caught() {
        let mut r = KernelRequest::new(name("r1"));
        r.language = Language::R;
        r.packages.pip = vec!["x".into()];
        assert!(matches!(r.validate(), Err(RequestError::PipForR { .. })));

        let mut r = KernelRequest::new(name("r2"));
        r.language = Language::R;
        r.env = EnvSource::New {
            backend: BackendChoice::Venv,
            prefix: None,
        };
        assert!(matches!(r.validate(), Err(RequestError::VenvCannot { .. })));

        let mut r = KernelRequest::new(name("e"));
        r.env = EnvSource::Existing { path: "/e".into() };
        r.packages.python = Some("3.11".into());
        assert!(matches!(
            r.validate(),
            Err(RequestError::ExistingCannot { .. })
        ));

        let mut ok = KernelRequest::new(name("ok"));
        ok.kernel_env.insert("MY_VAR".into(), "1".into());
        assert!(ok.validate().is_ok());
        ok.kernel_env.insert("bad key".into(), "1".into());
        assert!(ok.validate().is_err());
    }

    #[test]
    fn specs_never_become_options() {
        for (field, bad) in [
            ("pip", "-r/etc/shadow"),
            ("pip", "--index-url=https://evil.invalid"),
            ("pip", " -e ."),
            ("conda", "--override-channels"),
            ("channels", "--insecure"),
            ("pip", ""),
            ("pip", "a\nb"),
            ("python", "-V"),
        ] {
            let mut r = KernelRequest::new(name("k"));
            match field {
                "pip" => r.packages.pip = vec![bad.into()],
                "conda" => r.packages.conda = vec![bad.into()],
                "channels" => r.packages.channels = vec![bad.into()],
                _ => r.packages.python = Some(bad.into()),
            }
            let e = r.validate().unwrap_err();
            assert!(matches!(e, RequestError::BadSpec { .. }), "{bad:?}: {e}");
            assert!(e.hint().is_some());
        }
        let mut ok = KernelRequest::new(name("k"));
        ok.packages.pip = vec!["numpy>=1.2,<3".into(), "pkg[extra]==1.0".into()];
        ok.packages.conda = vec!["r-base=4.3".into(), "conda-forge::pandas".into()];
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn backend_choice_accepts_its_kinds() {
        assert!(BackendChoice::Auto.accepts(BackendKind::Micromamba));
        assert!(BackendChoice::Venv.accepts(BackendKind::Venv));
        assert!(!BackendChoice::Conda.accepts(BackendKind::Mamba));
    }
}
