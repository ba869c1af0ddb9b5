//! The kernel.json `kernels add` writes for an environment: ipykernel's own file (or
//! IRkernel's), plus the environment's activation baked into `env`, plus our metadata.
//!
//! # Python (what `python -m ipykernel install` would write, reference §7)
//!
//! * `argv`: `[<prefix>/bin/python, -Xfrozen_modules=off, -m, ipykernel_launcher, -f,
//!   {connection_file}]`; `argv[0]` is the environment's own interpreter path as is (not
//!   symlink-resolved, like `sys.executable`), so Jupyter's SIGINT reaches the kernel itself.
//!   The frozen-modules flag follows the environment's ipykernel: from 7.4 on any CPython,
//!   before that CPython ≥ 3.11 only; never for other implementations.
//! * `metadata`: `{"debugger": true}`, plus `"supported_encryption": "curve"` (7.3) or
//!   `["curve"]` (≥ 7.4); `kernel_protocol_version` `"5.5"` from 7.2 on.
//! * `display_name` "Python (NAME)", `language` "python"; the three logos copied from
//!   `<site-packages>/ipykernel/resources/`.
//!
//! # R (IRkernel's `installspec()`, reference §9)
//!
//! `argv`: `[<R home>/bin/R, --slave, -e, IRkernel::main(), --args, {connection_file}]`,
//! `language` "R", display name "R (NAME)", resources: every file of IRkernel's
//! `kernelspec/` directory except its kernel.json (logos and `kernel.js`).
//!
//! # `env`: activation, then the user's `--env`
//!
//! The variables of [`envs::activate`] (templates such as `<prefix>/bin:${PATH}`, which
//! jupyter_client expands against the server's environment at launch), then the request's
//! own variables, which win. See `docs/activation.md`.
//!
//! # `metadata.kernels` (others rely on this exact shape)
//!
//! ```json
//! "kernels": {"managed": true, "env": "<abs prefix>", "env_created": true,
//!             "backend": "venv"|"uv"|"conda"|"mamba"|"micromamba"|"rattler"|"existing",
//!             "activation": {"method": "computed"|"scripts"|"none", "vars": ["PATH", ...]},
//!             "source": "add"|"apply", "apply_file": "<abs kernels.toml>"}
//! ```
//! (`apply_file` only for `source: apply`.) Read it back with [`ManagedMeta::from_spec`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use envs::{ActivationMethod, BackendKind, Language};
use kernelspec::{KernelName, KernelSpec};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::request::Origin;
use crate::snapshot::EnvFacts;

/// The key of our object inside kernel.json `metadata`.
pub const METADATA_KEY: &str = "kernels";

/// How an environment came to be, as recorded in `metadata.kernels.backend`: made by a
/// backend (a venv made with uv is written `uv`), or found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendLabel {
    /// Created by `kernels` with this backend.
    Created {
        /// The backend.
        kind: BackendKind,
        /// Whether uv made it (venv backend).
        uv: bool,
    },
    /// An environment `kernels` did not create.
    Existing,
}

impl BackendLabel {
    /// A venv that uv made.
    pub const UV: BackendLabel = BackendLabel::Created {
        kind: BackendKind::Venv,
        uv: true,
    };

    /// The label of an environment created by `kind` (with uv or not, for venvs).
    pub fn created_by(kind: BackendKind, uv: bool) -> BackendLabel {
        BackendLabel::Created {
            kind,
            uv: uv && kind == BackendKind::Venv,
        }
    }

    /// The backend kind that made it (`None` for [`BackendLabel::Existing`]).
    pub fn kind(self) -> Option<BackendKind> {
        match self {
            BackendLabel::Created { kind, .. } => Some(kind),
            BackendLabel::Existing => None,
        }
    }

    /// The word written into kernel.json.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendLabel::Created { uv: true, .. } => "uv",
            BackendLabel::Created { kind, .. } => kind.name(),
            BackendLabel::Existing => "existing",
        }
    }

    /// The label a word in kernel.json names.
    pub fn parse(word: &str) -> Option<BackendLabel> {
        match word {
            "uv" => Some(BackendLabel::UV),
            "existing" => Some(BackendLabel::Existing),
            _ => word
                .parse()
                .ok()
                .map(|kind| BackendLabel::created_by(kind, false)),
        }
    }
}

impl fmt::Display for BackendLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for BackendLabel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for BackendLabel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<BackendLabel, D::Error> {
        let word = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        BackendLabel::parse(&word)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown backend `{word}`")))
    }
}

/// `metadata.kernels.activation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationMeta {
    /// `computed` (from files), `scripts` (activate.d scripts were run) or `none` (a system
    /// prefix such as `/usr`, which is not activated).
    pub method: String,
    /// The keys of `env` that came from activation (the others are the user's own).
    pub vars: Vec<String>,
}

/// `metadata.kernels`: what marks a kernelspec as made by `kernels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedMeta {
    /// Always `true` in what we write.
    pub managed: bool,
    /// The environment's absolute prefix.
    pub env: PathBuf,
    /// Whether `kernels` created that environment (only then may `remove --with-env`
    /// delete it).
    pub env_created: bool,
    /// How the environment was made.
    pub backend: BackendLabel,
    /// What activation was baked into `env`.
    pub activation: ActivationMeta,
    /// Which command wrote it: `add` or `apply`.
    pub source: String,
    /// For `apply`: the kernels.toml it was applied from (canonical path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_file: Option<PathBuf>,
}

impl ManagedMeta {
    /// Our metadata of a spec, when it has a well-formed `metadata.kernels` object with
    /// `"managed": true`.
    pub fn from_spec(spec: &KernelSpec) -> Option<ManagedMeta> {
        let v = spec.metadata.get(METADATA_KEY)?;
        let meta: ManagedMeta = serde_json::from_value(v.clone()).ok()?;
        meta.managed.then_some(meta)
    }

    /// The JSON object written under `metadata.kernels` (fixed key order).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "managed": self.managed,
            "env": self.env,
            "env_created": self.env_created,
            "backend": self.backend.as_str(),
            "activation": {"method": self.activation.method, "vars": self.activation.vars},
            "source": self.source,
        });
        if let (Some(file), Some(obj)) = (&self.apply_file, v.as_object_mut()) {
            obj.insert("apply_file".into(), json!(file));
        }
        v
    }

    /// The user's own variables of `spec.env`: those not listed as activation variables.
    pub fn user_env(&self, spec: &KernelSpec) -> BTreeMap<String, String> {
        spec.env
            .iter()
            .filter(|(k, _)| !self.activation.vars.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// What ipykernel version writes which kernel.json (reference §7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpykernelRules {
    /// `supported_encryption`: none, the string `"curve"` (7.3) or `["curve"]` (≥ 7.4).
    pub encryption: Encryption,
    /// `kernel_protocol_version` "5.5" (≥ 7.2).
    pub protocol_version: bool,
    /// `-Xfrozen_modules=off` on any CPython (≥ 7.4) rather than only on CPython ≥ 3.11.
    pub frozen_flag_any_cpython: bool,
}

/// How `metadata.supported_encryption` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// Not written.
    None,
    /// `"curve"`.
    String,
    /// `["curve"]`.
    List,
}

impl IpykernelRules {
    /// The rules of an ipykernel version (`"7.4.0"`); an unknown or unparsable version gets
    /// the newest rules (a new environment gets the newest ipykernel).
    pub fn for_version(version: Option<&str>) -> IpykernelRules {
        let (major, minor) = version.and_then(major_minor).unwrap_or((u32::MAX, 0));
        let at_least = |ma: u32, mi: u32| (major, minor) >= (ma, mi);
        IpykernelRules {
            encryption: if at_least(7, 4) {
                Encryption::List
            } else if at_least(7, 3) {
                Encryption::String
            } else {
                Encryption::None
            },
            protocol_version: at_least(7, 2),
            frozen_flag_any_cpython: at_least(7, 4),
        }
    }
}

/// `"3.11.7"` → `(3, 11)`.
pub fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor_text: String = parts
        .next()
        .unwrap_or("0")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor_text.parse().unwrap_or(0)))
}

/// `"3.11.7"` → `"3.11"`: the series a version belongs to, as pins and environment files
/// name it.
pub(crate) fn major_minor_text(version: &str) -> Option<String> {
    major_minor(version).map(|(major, minor)| format!("{major}.{minor}"))
}

/// "Python (NAME)" or "R (NAME)".
pub fn default_display_name(language: Language, name: &KernelName) -> String {
    format!("{language} ({name})")
}

/// Everything [`spec_for_env`] needs besides the environment's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecRequest {
    /// The kernel name.
    pub name: KernelName,
    /// The display name (default applied by the caller or here when `None`).
    pub display_name: Option<String>,
    /// The language.
    pub language: Language,
    /// The user's own variables.
    pub user_env: BTreeMap<String, String>,
    /// How the environment was made.
    pub backend: BackendLabel,
    /// Whether `kernels` created the environment.
    pub env_created: bool,
    /// Who asked.
    pub origin: Origin,
    /// For `apply`: the kernels.toml (recorded as `metadata.kernels.apply_file`).
    pub apply_file: Option<PathBuf>,
}

/// A kernelspec to write: the spec and the files to copy next to it.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredKernel {
    /// The kernel.json content.
    pub spec: KernelSpec,
    /// Files copied into the spec directory (logos, `kernel.js`).
    pub resources: Vec<PathBuf>,
}

impl DesiredKernel {
    /// Whether the kernel in `dir` (its parsed `existing` spec) is exactly this: same
    /// kernel.json content and every resource file present.
    pub fn matches(&self, existing: &KernelSpec, dir: &Path) -> bool {
        existing.to_file_json() == self.spec.to_file_json()
            && self
                .resources
                .iter()
                .filter_map(|r| r.file_name())
                .all(|n| dir.join(n).is_file())
    }
}

/// Why no spec can be written for an environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecForEnvError {
    /// No `bin/python`.
    #[error("{} has no Python interpreter (bin/python)", prefix.display())]
    NoPython {
        /// The prefix.
        prefix: PathBuf,
    },
    /// No ipykernel.
    #[error("ipykernel is not installed in {}", prefix.display())]
    NoIpykernel {
        /// The prefix.
        prefix: PathBuf,
    },
    /// No R.
    #[error("{} has no R (lib/R/bin/R or bin/R)", prefix.display())]
    NoR {
        /// The prefix.
        prefix: PathBuf,
    },
    /// No IRkernel.
    #[error("the R package IRkernel is not installed in the R library of {}", prefix.display())]
    NoIrkernel {
        /// The prefix.
        prefix: PathBuf,
    },
    /// The activation scripts could not be evaluated.
    #[error("activating {} failed: {message}", prefix.display())]
    Activation {
        /// The prefix.
        prefix: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// The language-specific parts of a kernelspec.
struct LanguageParts {
    argv: Vec<String>,
    language: &'static str,
    metadata: Map<String, Value>,
    protocol: Option<String>,
    resources: Vec<PathBuf>,
}

/// The kernelspec for `req` in the environment described by `facts` (see the module docs).
/// Pure: it reads nothing but its arguments.
pub fn spec_for_env(req: &SpecRequest, facts: &EnvFacts) -> Result<DesiredKernel, SpecForEnvError> {
    let prefix = facts.env.prefix.to_path_buf();
    let LanguageParts {
        argv,
        language,
        mut metadata,
        protocol,
        resources,
    } = match req.language {
        Language::Python => python_parts(facts, &prefix)?,
        Language::R => r_parts(facts, &prefix)?,
    };
    let (method, mut env) = match &facts.activation {
        Err(message) => {
            return Err(SpecForEnvError::Activation {
                prefix,
                message: message.clone(),
            })
        }
        Ok(None) => ("none", BTreeMap::new()),
        Ok(Some(a)) => (
            match a.method {
                ActivationMethod::Computed => "computed",
                ActivationMethod::Scripts => "scripts",
            },
            a.vars.clone(),
        ),
    };
    let activation_keys: Vec<String> = env
        .keys()
        .filter(|k| !req.user_env.contains_key(*k))
        .cloned()
        .collect();
    env.extend(req.user_env.iter().map(|(k, v)| (k.clone(), v.clone())));
    let meta = ManagedMeta {
        managed: true,
        env: prefix,
        env_created: req.env_created,
        backend: req.backend,
        activation: ActivationMeta {
            method: method.to_owned(),
            vars: activation_keys,
        },
        source: req.origin.as_str().to_owned(),
        apply_file: req.apply_file.clone(),
    };
    metadata.insert(METADATA_KEY.into(), meta.to_json());
    let display_name = req
        .display_name
        .clone()
        .unwrap_or_else(|| default_display_name(req.language, &req.name));
    let mut spec = KernelSpec::new(argv, display_name, language);
    spec.metadata = metadata;
    spec.kernel_protocol_version = protocol;
    spec.env = env;
    Ok(DesiredKernel { spec, resources })
}

/// An ipykernel kernel: the environment's python (with `-Xfrozen_modules=off` where CPython
/// needs it), the debugger and encryption metadata and protocol version the installed
/// ipykernel writes, and its logos.
fn python_parts(facts: &EnvFacts, prefix: &Path) -> Result<LanguageParts, SpecForEnvError> {
    let python = facts
        .env
        .python
        .clone()
        .ok_or_else(|| SpecForEnvError::NoPython {
            prefix: prefix.to_path_buf(),
        })?;
    let ipk = facts
        .ipykernel
        .as_ref()
        .ok_or_else(|| SpecForEnvError::NoIpykernel {
            prefix: prefix.to_path_buf(),
        })?;
    let rules = IpykernelRules::for_version(ipk.version.as_deref());
    let mut argv = vec![python.display().to_string()];
    let py311 = facts
        .python_version
        .as_deref()
        .and_then(major_minor)
        .is_none_or(|v| v >= (3, 11));
    if facts.cpython && (rules.frozen_flag_any_cpython || py311) {
        argv.push("-Xfrozen_modules=off".to_owned());
    }
    argv.extend(["-m", "ipykernel_launcher", "-f", "{connection_file}"].map(str::to_owned));
    let mut metadata = Map::new();
    metadata.insert("debugger".into(), Value::Bool(true));
    match rules.encryption {
        Encryption::None => {}
        Encryption::String => {
            metadata.insert("supported_encryption".into(), json!("curve"));
        }
        Encryption::List => {
            metadata.insert("supported_encryption".into(), json!(["curve"]));
        }
    }
    let resources = ipk
        .resources
        .as_deref()
        .map(|dir| {
            ["logo-32x32.png", "logo-64x64.png", "logo-svg.svg"]
                .iter()
                .map(|f| dir.join(f))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    Ok(LanguageParts {
        argv,
        language: "python",
        metadata,
        protocol: rules.protocol_version.then(|| "5.5".to_owned()),
        resources,
    })
}

/// An IRkernel kernel: the environment's R running `IRkernel::main()`, with the files of
/// IRkernel's own kernelspec directory (its logos) as resources.
fn r_parts(facts: &EnvFacts, prefix: &Path) -> Result<LanguageParts, SpecForEnvError> {
    let r = facts.r.as_ref().ok_or_else(|| SpecForEnvError::NoR {
        prefix: prefix.to_path_buf(),
    })?;
    let spec_dir = r
        .irkernel_spec_dir
        .clone()
        .ok_or_else(|| SpecForEnvError::NoIrkernel {
            prefix: prefix.to_path_buf(),
        })?;
    let argv = vec![
        r.r_exe.display().to_string(),
        "--slave".into(),
        "-e".into(),
        "IRkernel::main()".into(),
        "--args".into(),
        "{connection_file}".into(),
    ];
    let mut resources: Vec<PathBuf> = std::fs::read_dir(&spec_dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "kernel.json"))
                .collect()
        })
        .unwrap_or_default();
    resources.sort();
    Ok(LanguageParts {
        argv,
        language: "R",
        metadata: Map::new(),
        protocol: None,
        resources,
    })
}

/// The environment a kernelspec runs in, as far as the spec says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecEnv {
    /// A prefix: `metadata.kernels.env`, a wrapper's `-p PREFIX`, or the prefix of an
    /// absolute interpreter path (`<prefix>/bin/python`, `<prefix>/lib/R/bin/R`).
    Prefix(PathBuf),
    /// A conda environment name a wrapper selects (`conda run -n NAME`).
    Name(String),
}

/// Where `spec` runs: our metadata first, else what its argv says (wrappers seen through).
/// Pure.
pub fn env_of_spec(spec: &KernelSpec) -> Option<SpecEnv> {
    if let Some(meta) = ManagedMeta::from_spec(spec) {
        return Some(SpecEnv::Prefix(meta.env));
    }
    let launch = crate::wrappers::parse_argv(&spec.argv);
    match &launch.env {
        Some(crate::wrappers::EnvRef::Prefix(p)) => return Some(SpecEnv::Prefix(p.into())),
        Some(crate::wrappers::EnvRef::Name(n)) => return Some(SpecEnv::Name(n.clone())),
        _ => {}
    }
    let program = launch.program.as_deref().map(Path::new)?;
    if !program.is_absolute() {
        return None;
    }
    crate::wrappers::prefix_of_program(program).map(SpecEnv::Prefix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{InstalledPackage, RFacts};
    use envs::{Activation, EnvKind, Environment};

    #[test]
    fn backend_labels_keep_their_words() {
        let labels = BackendKind::ALL
            .map(|k| BackendLabel::created_by(k, false))
            .into_iter()
            .chain([BackendLabel::UV, BackendLabel::Existing]);
        let words: Vec<&str> = labels.clone().map(BackendLabel::as_str).collect();
        assert_eq!(
            words,
            [
                "conda",
                "mamba",
                "micromamba",
                "venv",
                "rattler",
                "uv",
                "existing"
            ]
        );
        for l in labels {
            let json = serde_json::to_string(&l).unwrap();
            assert_eq!(serde_json::from_str::<BackendLabel>(&json).unwrap(), l);
        }
        // uv is a venv's installer; a conda environment is never labelled uv.
        assert_eq!(
            BackendLabel::created_by(BackendKind::Conda, true).as_str(),
            "conda"
        );
        assert!(serde_json::from_str::<BackendLabel>("\"pixi\"").is_err());
    }

    fn facts(prefix: &str, ipk: Option<&str>, py: &str) -> EnvFacts {
        let env = Environment {
            name: None,
            prefix: envs::Prefix::from_recorded(prefix),
            kind: EnvKind::Venv,
            python: Some(PathBuf::from(prefix).join("bin/python")),
            python_version: Some(py.into()),
            has_ipykernel: ipk.is_some(),
            frozen: None,
        };
        let mut vars = BTreeMap::new();
        vars.insert("PATH".to_owned(), format!("{prefix}/bin:${{PATH}}"));
        vars.insert("VIRTUAL_ENV".to_owned(), prefix.to_owned());
        EnvFacts {
            env,
            cpython: true,
            python_version: Some(py.into()),
            ipykernel: ipk.map(|v| InstalledPackage {
                version: Some(v.into()),
                resources: None,
            }),
            conda_names: Default::default(),
            pip_names: Default::default(),
            activation: Ok(Some(Activation {
                vars,
                scripts: vec![],
                method: ActivationMethod::Computed,
            })),
            r: None,
            externally_managed: false,
            created_by_kernels: None,
        }
    }

    fn req(name: &str) -> SpecRequest {
        SpecRequest {
            name: KernelName::parse(name).unwrap(),
            display_name: None,
            language: Language::Python,
            user_env: BTreeMap::new(),
            backend: BackendLabel::UV,
            env_created: true,
            origin: Origin::Add,
            apply_file: None,
        }
    }

    #[test]
    fn ipykernel_740_file_bytes() {
        let d = spec_for_env(&req("MyEnv"), &facts("/opt/venv", Some("7.4.0"), "3.11.7")).unwrap();
        let text = d.spec.to_file_string();
        let expected = r#"{
 "argv": [
  "/opt/venv/bin/python",
  "-Xfrozen_modules=off",
  "-m",
  "ipykernel_launcher",
  "-f",
  "{connection_file}"
 ],
 "display_name": "Python (myenv)",
 "language": "python",
 "metadata": {
  "debugger": true,
  "supported_encryption": [
   "curve"
  ],
  "kernels": {
   "managed": true,
   "env": "/opt/venv",
   "env_created": true,
   "backend": "uv",
   "activation": {
    "method": "computed",
    "vars": [
     "PATH",
     "VIRTUAL_ENV"
    ]
   },
   "source": "add"
  }
 },
 "kernel_protocol_version": "5.5",
 "env": {
  "PATH": "/opt/venv/bin:${PATH}",
  "VIRTUAL_ENV": "/opt/venv"
 }
}"#;
        assert_eq!(text, expected);
        let back = KernelSpec::from_json_bytes(text.as_bytes()).unwrap();
        let meta = ManagedMeta::from_spec(&back).unwrap();
        assert_eq!(meta.backend, BackendLabel::UV);
        assert_eq!(meta.env, PathBuf::from("/opt/venv"));
        assert!(meta.user_env(&back).is_empty());
    }

    #[test]
    fn env_of_specs() {
        let d = spec_for_env(&req("k"), &facts("/opt/venv", Some("7.4.0"), "3.11.7")).unwrap();
        assert_eq!(
            env_of_spec(&d.spec),
            Some(SpecEnv::Prefix("/opt/venv".into()))
        );
        let plain = KernelSpec::new(
            vec![
                "/e/x/bin/python".into(),
                "-m".into(),
                "ipykernel_launcher".into(),
            ],
            "X",
            "python",
        );
        assert_eq!(env_of_spec(&plain), Some(SpecEnv::Prefix("/e/x".into())));
        let run = KernelSpec::new(
            [
                "conda",
                "run",
                "-n",
                "torch",
                "python",
                "-m",
                "ipykernel_launcher",
            ]
            .map(String::from)
            .to_vec(),
            "T",
            "python",
        );
        assert_eq!(env_of_spec(&run), Some(SpecEnv::Name("torch".into())));
        let bare = KernelSpec::new(vec!["python".into()], "P", "python");
        assert_eq!(env_of_spec(&bare), None);
    }

    #[test]
    fn version_table() {
        let f = |v: &str, py: &str| {
            spec_for_env(&req("k"), &facts("/e", Some(v), py))
                .unwrap()
                .spec
        };
        let s = f("6.29.5", "3.10.4");
        assert!(!s.argv.contains(&"-Xfrozen_modules=off".to_owned()));
        assert_eq!(s.kernel_protocol_version, None);
        assert!(s.metadata.get("supported_encryption").is_none());
        let s = f("6.29.5", "3.11.2");
        assert!(s.argv.contains(&"-Xfrozen_modules=off".to_owned()));
        let s = f("7.2.0", "3.12.0");
        assert_eq!(s.kernel_protocol_version.as_deref(), Some("5.5"));
        let s = f("7.3.0", "3.12.0");
        assert_eq!(s.metadata["supported_encryption"], json!("curve"));
        let s = f("7.4.0", "3.10.0");
        assert!(s.argv.contains(&"-Xfrozen_modules=off".to_owned()));
        assert_eq!(s.metadata["supported_encryption"], json!(["curve"]));
    }

    #[test]
    fn user_env_wins_and_is_not_an_activation_var() {
        let mut r = req("k");
        r.user_env.insert("VIRTUAL_ENV".into(), "/mine".into());
        r.user_env.insert("MY".into(), "1".into());
        let d = spec_for_env(&r, &facts("/e", Some("7.4.0"), "3.11")).unwrap();
        assert_eq!(d.spec.env["VIRTUAL_ENV"], "/mine");
        let meta = ManagedMeta::from_spec(&d.spec).unwrap();
        assert_eq!(meta.activation.vars, vec!["PATH".to_owned()]);
        let user = meta.user_env(&d.spec);
        assert_eq!(user.len(), 2);
    }

    #[test]
    fn r_spec_and_missing_pieces() {
        let mut f = facts("/usr", None, "3.11");
        f.activation = Ok(None);
        let mut r = req("r-test");
        r.language = Language::R;
        assert_eq!(
            spec_for_env(&r, &f).unwrap_err(),
            SpecForEnvError::NoR {
                prefix: "/usr".into()
            }
        );
        f.r = Some(RFacts {
            r_exe: "/usr/lib/R/bin/R".into(),
            irkernel_spec_dir: None,
        });
        assert!(matches!(
            spec_for_env(&r, &f),
            Err(SpecForEnvError::NoIrkernel { .. })
        ));
        let t = tempfile::tempdir().unwrap();
        for file in ["kernel.json", "kernel.js", "logo-64x64.png"] {
            std::fs::write(t.path().join(file), "x").unwrap();
        }
        f.r = Some(RFacts {
            r_exe: "/usr/lib/R/bin/R".into(),
            irkernel_spec_dir: Some(t.path().to_path_buf()),
        });
        let d = spec_for_env(&r, &f).unwrap();
        assert_eq!(
            d.spec.argv,
            [
                "/usr/lib/R/bin/R",
                "--slave",
                "-e",
                "IRkernel::main()",
                "--args",
                "{connection_file}"
            ]
        );
        assert_eq!(d.spec.language, "R");
        assert_eq!(d.spec.display_name, "R (r-test)");
        assert!(d.spec.env.is_empty());
        let names: Vec<_> = d
            .resources
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["kernel.js", "logo-64x64.png"]);
        assert_eq!(
            ManagedMeta::from_spec(&d.spec).unwrap().activation.method,
            "none"
        );
        let py = spec_for_env(&req("k"), &f).unwrap_err();
        assert!(matches!(py, SpecForEnvError::NoIpykernel { .. }));
    }
}
