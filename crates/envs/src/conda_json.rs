//! Typed views of what conda, mamba and micromamba print in `--json` mode.
//!
//! This is the JSON edge: [`interpret`] turns one finished command (stdout, stderr, exit
//! code) into either a [`Transaction`] or a [`CondaFailure`]. stdout is parsed **before**
//! the exit code is looked at, because conda prints its errors as JSON on stdout and a
//! declined prompt exits 0.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde_json::Value;

/// One package in a transaction or listing (the keys conda and libmamba share).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PackageRecord {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Build string (`build_string`, or `build` in `FETCH` records).
    pub build: Option<String>,
    /// Channel as printed (conda: a short name; libmamba: the stored channel string).
    pub channel: Option<String>,
}

/// A successful create/install/remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transaction {
    /// The target prefix (`actions.PREFIX` or `prefix`), when printed.
    pub prefix: Option<PathBuf>,
    /// Packages linked into the prefix.
    pub link: Vec<PackageRecord>,
    /// Packages removed from the prefix.
    pub unlink: Vec<PackageRecord>,
    /// Packages downloaded.
    pub fetch: Vec<PackageRecord>,
    /// True for a `--dry-run`.
    pub dry_run: bool,
    /// A message such as "All requested packages already installed.".
    pub message: Option<String>,
}

/// A failure reported by a conda-family tool, recognised from its output.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CondaFailure {
    /// Requested packages exist in no configured channel.
    PackagesNotFound {
        /// The specs that were not found.
        packages: Vec<String>,
    },
    /// The target is not an environment (or not even a directory).
    EnvironmentLocationNotFound {
        /// The location conda looked at.
        location: String,
    },
    /// The target environment or directory already exists.
    EnvExists {
        /// What the tool said.
        message: String,
    },
    /// `base`/the root prefix cannot be created or overwritten.
    ReservedName {
        /// What the tool said.
        message: String,
    },
    /// The request has conflicts.
    Unsatisfiable {
        /// The solver's explanation.
        message: String,
    },
    /// A channel is missing or invalid.
    ChannelUnavailable {
        /// The channel URL.
        url: String,
    },
    /// A network or HTTP failure.
    Http {
        /// The URL being fetched.
        url: String,
        /// The reason given.
        reason: String,
    },
    /// The Anaconda Terms of Service plugin refused in non-interactive mode.
    TermsOfService {
        /// Its message, which names the channels and the accept commands.
        message: String,
    },
    /// The environment is frozen (CEP 22).
    Frozen {
        /// The tool's message.
        message: String,
    },
    /// No write permission for the environment or any envs directory.
    NotWritable {
        /// The location, when given.
        location: Option<String>,
        /// What the tool said.
        message: String,
    },
    /// The tool asked a question on stdin and the empty answer declined it (exit 0 with
    /// `CondaSystemExit`); nothing was done.
    DeclinedPrompt,
    /// A libmamba failure without an exception name.
    Libmamba {
        /// The `critical libmamba …` lines of stderr.
        message: String,
        /// `solver_problems` from the JSON, if any.
        solver_problems: Vec<String>,
    },
    /// Anything else.
    Other {
        /// conda's `exception_name`, when there was one.
        exception_name: Option<String>,
        /// The message.
        message: String,
    },
}

impl fmt::Display for CondaFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CondaFailure::PackagesNotFound { packages } => {
                write!(
                    f,
                    "packages not found in the configured channels: {}",
                    packages.join(", ")
                )
            }
            CondaFailure::EnvironmentLocationNotFound { location } => {
                write!(f, "not a conda environment: {location}")
            }
            CondaFailure::EnvExists { message } => {
                write!(f, "the target already exists: {message}")
            }
            CondaFailure::ReservedName { message } => write!(f, "{message}"),
            CondaFailure::Unsatisfiable { message } => {
                write!(f, "the request cannot be satisfied: {message}")
            }
            CondaFailure::ChannelUnavailable { url } => {
                write!(f, "channel unavailable or invalid: {url}")
            }
            CondaFailure::Http { url, reason } => write!(f, "network error ({reason}) for {url}"),
            CondaFailure::TermsOfService { message } => {
                write!(f, "channel Terms of Service not accepted: {message}")
            }
            CondaFailure::Frozen { message } => write!(f, "the environment is frozen: {message}"),
            CondaFailure::NotWritable { message, .. } => write!(f, "not writable: {message}"),
            CondaFailure::DeclinedPrompt => f.write_str(
                "the tool asked for confirmation and the request was declined; nothing was done",
            ),
            CondaFailure::Libmamba {
                message,
                solver_problems,
            } => {
                f.write_str(message)?;
                for p in solver_problems {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
            CondaFailure::Other {
                exception_name,
                message,
            } => match exception_name {
                Some(n) => write!(f, "{n}: {message}"),
                None => f.write_str(message),
            },
        }
    }
}

impl CondaFailure {
    /// What the user can do about it, when there is something to suggest.
    pub fn hint(&self) -> Option<String> {
        let h = match self {
            CondaFailure::PackagesNotFound { .. } => {
                "check the package names and versions, or add a channel that has them (e.g. `-c conda-forge`)"
            }
            CondaFailure::EnvironmentLocationNotFound { .. } => {
                "the environment does not exist; `kernels envs` lists the ones that do"
            }
            CondaFailure::EnvExists { .. } => {
                "choose another name, or remove the existing environment first"
            }
            CondaFailure::ReservedName { .. } => {
                "`base` is the root of the conda installation and cannot be created or replaced; choose another name"
            }
            CondaFailure::Unsatisfiable { .. } => {
                "relax the version constraints or pick another Python version"
            }
            CondaFailure::ChannelUnavailable { .. } => "check the channel name or URL",
            CondaFailure::Http { .. } => {
                "check the network, proxy (HTTPS_PROXY) and certificate (SSL_CERT_FILE) settings"
            }
            CondaFailure::TermsOfService { .. } => {
                "accept the channel's terms with the `conda tos accept …` command shown, or use other channels (e.g. `-c conda-forge --override-channels`)"
            }
            CondaFailure::Frozen { .. } => {
                "the environment is marked frozen (conda-meta/frozen); its owner does not want it changed"
            }
            CondaFailure::NotWritable { .. } => {
                "you cannot write there; create the environment under your home directory instead"
            }
            CondaFailure::DeclinedPrompt => {
                "the tool prompted although it was called non-interactively; please report this"
            }
            CondaFailure::Libmamba { .. } | CondaFailure::Other { .. } => return None,
        };
        Some(h.to_owned())
    }
}

/// The result of interpreting one command's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The tool reported success.
    Success(Transaction),
    /// The tool reported (or its output shows) a failure.
    Failure(CondaFailure),
}

/// Finds the JSON object in stdout: the whole text, or (when a prompt or progress line
/// came first) from the first line that starts with `{`.
pub fn json_object(stdout: &str) -> Option<serde_json::Map<String, Value>> {
    let trimmed = stdout.trim();
    if let Ok(Value::Object(m)) = serde_json::from_str(trimmed) {
        return Some(m);
    }
    let start = stdout
        .find("\n{")
        .map(|i| i + 1)
        .or_else(|| stdout.find('{'))?;
    let mut de = serde_json::Deserializer::from_str(&stdout[start..]).into_iter::<Value>();
    match de.next() {
        Some(Ok(Value::Object(m))) => Some(m),
        _ => None,
    }
}

/// Interprets a finished create/install/remove (see the module docs).
pub fn interpret(stdout: &str, stderr: &str, exit_code: Option<i32>) -> Outcome {
    if let Some(obj) = json_object(stdout) {
        if obj.contains_key("exception_name")
            || obj.contains_key("error") && !obj.contains_key("success")
        {
            return Outcome::Failure(failure_from_error_map(&obj));
        }
        if let Some(problems) = obj.get("solver_problems").and_then(Value::as_array) {
            let problems: Vec<String> = problems.iter().map(value_text).collect();
            return Outcome::Failure(libmamba_failure(stderr, problems));
        }
        let success = obj.get("success").and_then(Value::as_bool);
        if success == Some(true) && exit_code == Some(0) {
            return Outcome::Success(transaction(&obj));
        }
        if success == Some(false) || exit_code != Some(0) {
            return Outcome::Failure(failure_from_stderr(stderr, exit_code));
        }
    }
    if exit_code == Some(0) && stderr.contains("CondaSystemExit") {
        return Outcome::Failure(CondaFailure::DeclinedPrompt);
    }
    Outcome::Failure(failure_from_stderr(stderr, exit_code))
}

fn failure_from_stderr(stderr: &str, exit_code: Option<i32>) -> CondaFailure {
    let critical: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("critical"))
        .map(|l| l.trim_start().strip_prefix("libmamba").unwrap_or(l).trim())
        .collect();
    if !critical.is_empty() {
        return libmamba_failure(stderr, Vec::new());
    }
    // conda's text-mode errors: "Name: message" lines.
    if let Some((name, msg)) = stderr.lines().map(str::trim).find_map(|l| {
        let (n, m) = l.split_once(": ")?;
        (!n.contains(' ')
            && (n.ends_with("Error") || n.ends_with("NotFound") || n.ends_with("Exit")))
        .then(|| (n.to_owned(), m.to_owned()))
    }) {
        let mut map = serde_json::Map::new();
        map.insert("exception_name".into(), Value::String(name));
        map.insert("message".into(), Value::String(msg));
        return failure_from_error_map(&map);
    }
    let text = crate::process::tail(stderr.trim(), 20);
    let message = if text.is_empty() {
        format!("no JSON on stdout and nothing on stderr (exit code {exit_code:?})")
    } else {
        text
    };
    CondaFailure::Other {
        exception_name: None,
        message,
    }
}

fn libmamba_failure(stderr: &str, solver_problems: Vec<String>) -> CondaFailure {
    let lines: Vec<String> = stderr
        .lines()
        .filter_map(|l| {
            let rest = l.trim_start().strip_prefix("critical")?;
            Some(
                rest.trim_start()
                    .strip_prefix("libmamba")
                    .unwrap_or(rest)
                    .trim()
                    .to_owned(),
            )
        })
        .collect();
    let message = if lines.is_empty() {
        crate::process::tail(stderr.trim(), 10)
    } else {
        lines.join("\n")
    };
    let all = format!("{message}\n{}", stderr);
    if all.contains("Non-conda folder exists at prefix")
        || all.contains("Target prefix already exists")
        || all.contains("Found conda-prefix at")
    {
        return CondaFailure::EnvExists { message };
    }
    if all.contains("Overwriting root prefix is not permitted") {
        return CondaFailure::ReservedName { message };
    }
    if let Some(p) = stderr
        .lines()
        .find_map(|l| l.split("No prefix found at: ").nth(1))
    {
        return CondaFailure::EnvironmentLocationNotFound {
            location: p.trim().to_owned(),
        };
    }
    // libsolv's "nothing provides requested <spec>" is a missing package.
    let missing: Vec<String> = solver_problems
        .iter()
        .filter_map(|p| p.split("nothing provides requested ").nth(1))
        .map(|s| s.trim().to_owned())
        .collect();
    if !missing.is_empty() && missing.len() == solver_problems.len() {
        return CondaFailure::PackagesNotFound { packages: missing };
    }
    CondaFailure::Libmamba {
        message,
        solver_problems,
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn str_field(obj: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key).map(value_text).filter(|s| !s.is_empty())
}

/// Maps conda's error JSON (`exception_name`, `message`, extra keys) to a failure.
pub fn failure_from_error_map(obj: &serde_json::Map<String, Value>) -> CondaFailure {
    let name = str_field(obj, "exception_name").unwrap_or_default();
    if name == "CondaMultiError" {
        if let Some(Value::Object(first)) = obj.get("errors").and_then(|e| e.get(0)) {
            return failure_from_error_map(first);
        }
    }
    let message = str_field(obj, "message")
        .or_else(|| str_field(obj, "error"))
        .unwrap_or_default();
    let string_list = |key: &str| -> Vec<String> {
        match obj.get(key) {
            Some(Value::Array(a)) => a.iter().map(value_text).collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    match name.as_str() {
        "PackagesNotFoundError" | "PackagesNotFoundInChannelsError" => {
            CondaFailure::PackagesNotFound {
                packages: string_list("packages"),
            }
        }
        "EnvironmentLocationNotFound" => CondaFailure::EnvironmentLocationNotFound {
            location: str_field(obj, "location").unwrap_or_else(|| {
                message
                    .strip_prefix("Not a conda environment: ")
                    .unwrap_or(&message)
                    .to_owned()
            }),
        },
        "DirectoryNotACondaEnvironmentError" => CondaFailure::EnvironmentLocationNotFound {
            location: str_field(obj, "target_directory").unwrap_or(message),
        },
        "CondaValueError" if message.contains("reserved environment name") => {
            CondaFailure::ReservedName { message }
        }
        "CondaValueError" if message.contains("with an existing conda environment") => {
            CondaFailure::EnvExists { message }
        }
        "UnsatisfiableError" | "LibMambaUnsatisfiableError" | "SpecsConfigurationConflictError" => {
            CondaFailure::Unsatisfiable { message }
        }
        "UnavailableInvalidChannel" | "ChannelNotAllowed" => CondaFailure::ChannelUnavailable {
            url: str_field(obj, "channel_url")
                .or_else(|| str_field(obj, "channel_name"))
                .unwrap_or(message),
        },
        "CondaHTTPError" | "CondaSSLError" | "ProxyError" => CondaFailure::Http {
            url: str_field(obj, "url").unwrap_or_default(),
            reason: str_field(obj, "reason").unwrap_or(message),
        },
        "CondaToSNonInteractiveError" | "CondaToSRejectedError" => {
            CondaFailure::TermsOfService { message }
        }
        "EnvironmentIsFrozenError" => CondaFailure::Frozen { message },
        "EnvironmentNotWritableError" => CondaFailure::NotWritable {
            location: str_field(obj, "environment_location"),
            message,
        },
        "NoWritableEnvsDirError" | "NoWritablePkgsDirError" => CondaFailure::NotWritable {
            location: None,
            message,
        },
        "CondaSystemExit" => CondaFailure::DeclinedPrompt,
        _ => CondaFailure::Other {
            exception_name: (!name.is_empty()).then_some(name),
            message,
        },
    }
}

fn records(v: Option<&Value>) -> Vec<PackageRecord> {
    let Some(Value::Array(items)) = v else {
        return Vec::new();
    };
    items.iter().filter_map(record).collect()
}

fn record(v: &Value) -> Option<PackageRecord> {
    let o = v.as_object()?;
    Some(PackageRecord {
        name: str_field(o, "name")?,
        version: str_field(o, "version").unwrap_or_default(),
        build: str_field(o, "build_string").or_else(|| str_field(o, "build")),
        channel: str_field(o, "channel"),
    })
}

fn transaction(obj: &serde_json::Map<String, Value>) -> Transaction {
    let actions = obj.get("actions").and_then(Value::as_object);
    let prefix = actions
        .and_then(|a| str_field(a, "PREFIX"))
        .or_else(|| str_field(obj, "prefix"))
        .map(PathBuf::from);
    Transaction {
        prefix,
        link: records(actions.and_then(|a| a.get("LINK"))),
        unlink: records(actions.and_then(|a| a.get("UNLINK"))),
        fetch: records(actions.and_then(|a| a.get("FETCH"))),
        dry_run: obj.get("dry_run").and_then(Value::as_bool).unwrap_or(false),
        message: str_field(obj, "message"),
    }
}

/// Parses `list --json` (an array of records, conda or libmamba shape).
pub fn parse_list(stdout: &str) -> Option<Vec<PackageRecord>> {
    let v: Value = serde_json::from_str(stdout.trim()).ok()?;
    match v {
        Value::Array(_) => Some(records(Some(&v))),
        _ => None,
    }
}

/// What `info --json` says, from conda's or libmamba's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CondaInfo {
    /// `conda_version`, or libmamba's `"<exe> version"`.
    pub version: Option<String>,
    /// `"libmamba version"`, for mamba 2 / micromamba.
    pub libmamba_version: Option<String>,
    /// `root_prefix` / `"base environment"`.
    pub root_prefix: Option<PathBuf>,
    /// `envs_dirs` / `"envs directories"`.
    pub envs_dirs: Vec<PathBuf>,
    /// `pkgs_dirs` / `"package cache"`.
    pub pkgs_dirs: Vec<PathBuf>,
    /// Channel URLs.
    pub channels: Vec<String>,
    /// `platform`.
    pub platform: Option<String>,
    /// Known environments (conda only; libmamba's `info` has none).
    pub envs: Vec<PathBuf>,
}

/// Parses `info --json`.
pub fn parse_info(stdout: &str) -> Option<CondaInfo> {
    let obj = json_object(stdout)?;
    let list = |keys: &[&str]| -> Vec<String> {
        keys.iter()
            .find_map(|k| obj.get(*k).and_then(Value::as_array))
            .map(|a| a.iter().map(value_text).collect())
            .unwrap_or_default()
    };
    let version = str_field(&obj, "conda_version").or_else(|| {
        obj.iter()
            .find(|(k, _)| {
                k.ends_with(" version")
                    && *k != "libmamba version"
                    && !k.starts_with("curl")
                    && !k.starts_with("libarchive")
            })
            .map(|(_, v)| value_text(v))
    });
    Some(CondaInfo {
        version,
        libmamba_version: str_field(&obj, "libmamba version"),
        root_prefix: str_field(&obj, "root_prefix")
            .or_else(|| str_field(&obj, "base environment"))
            .map(PathBuf::from),
        envs_dirs: list(&["envs_dirs", "envs directories"])
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        pkgs_dirs: list(&["pkgs_dirs", "package cache"])
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        channels: list(&["channels"]),
        platform: str_field(&obj, "platform"),
        envs: list(&["envs"]).into_iter().map(PathBuf::from).collect(),
    })
}

/// Per-env details of conda ≥25.11's `env list --json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvDetails {
    /// conda's name (`""` for envs outside `envs_dirs` becomes `None`).
    pub name: Option<String>,
    /// Root prefix.
    pub base: bool,
    /// CEP 22 frozen.
    pub frozen: bool,
    /// Writable by the caller, when known.
    pub writable: Option<bool>,
}

/// `env list --json`: the prefixes and, when printed, their details.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvList {
    /// Prefixes in the order printed.
    pub envs: Vec<PathBuf>,
    /// Details by prefix (empty for libmamba and conda <25.11).
    pub details: BTreeMap<PathBuf, EnvDetails>,
}

/// Parses `env list --json`.
pub fn parse_env_list(stdout: &str) -> Option<EnvList> {
    let obj = json_object(stdout)?;
    let envs = obj
        .get("envs")?
        .as_array()?
        .iter()
        .map(|v| PathBuf::from(value_text(v)))
        .collect();
    let mut details = BTreeMap::new();
    if let Some(Value::Object(d)) = obj.get("envs_details") {
        for (p, v) in d {
            let Some(o) = v.as_object() else { continue };
            details.insert(
                PathBuf::from(p),
                EnvDetails {
                    name: str_field(o, "name"),
                    base: o.get("base").and_then(Value::as_bool).unwrap_or(false),
                    frozen: o.get("frozen").and_then(Value::as_bool).unwrap_or(false),
                    writable: o.get("writable").and_then(Value::as_bool),
                },
            );
        }
    }
    Some(EnvList { envs, details })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A real conda output from the repository's `tests/fixtures/conda` (see its `index.md`).
    fn fixture(name: &str) -> String {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
        let p = dir.join("conda").join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
    }

    fn ok(name: &str) -> Transaction {
        match interpret(&fixture(name), "", Some(0)) {
            Outcome::Success(t) => t,
            other => panic!("{name}: {other:?}"),
        }
    }

    fn fail(name: &str, code: i32) -> CondaFailure {
        match interpret(&fixture(name), "", Some(code)) {
            Outcome::Failure(f) => f,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn create_success_lists_linked_packages() {
        let t = ok("conda-create--json--yes-n-X-python-pip-ipykernel.json");
        assert_eq!(t.prefix.as_deref(), Some(Path::new("/anaconda/envs/fxenv")));
        assert_eq!(t.link.len(), 31);
        assert_eq!(t.link[0].name, "python");
        assert_eq!(t.link[0].version, "3.11.7");
        assert_eq!(t.link[0].build.as_deref(), Some("hpyenv_0_cpython"));
        assert!(t.link.iter().any(|p| p.name == "ipykernel"));
        assert!(t.link.iter().any(|p| p.name == "pip"));
        assert!(t.fetch.is_empty());
    }

    #[test]
    fn cold_cache_create_has_fetch_records() {
        let t = ok("conda-create--json--yes-n-X4-python-pip-ipykernel-cold-cache.json");
        assert_eq!(t.fetch.len(), 31);
        assert_eq!(t.fetch[0].name, "python-tzdata");
        assert_eq!(t.fetch[0].build.as_deref(), Some("pyh_local_0"));
        assert!(t.link.iter().any(|p| p.name == "jupyter_client"));
    }

    #[test]
    fn create_over_existing_reports_only_success() {
        for f in [
            "conda-create--json--yes-n-EXISTING.json",
            "conda-create--json-n-EXISTING-no-yes.json",
        ] {
            let t = ok(f);
            assert_eq!(t.prefix.as_deref(), Some(Path::new("/anaconda/envs/fxenv")));
            assert!(t.link.is_empty() && t.unlink.is_empty());
        }
    }

    #[test]
    fn install_shapes() {
        let t = ok("conda-install--json--yes-n-X-pip.json");
        assert_eq!(
            t.message.as_deref(),
            Some("All requested packages already installed.")
        );
        assert!(t.link.is_empty() && t.prefix.is_none());
        let t = ok("conda-install--json--yes-n-EMPTY-pip.json");
        let names: Vec<&str> = t.link.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["python", "pip"]);
        assert_eq!(
            t.prefix.as_deref(),
            Some(Path::new("/anaconda/envs/fxempty"))
        );
    }

    #[test]
    fn remove_shapes_have_unlink() {
        let t = ok("conda-remove--json--yes-n-X--all.json");
        assert_eq!(t.unlink.len(), 31);
        assert!(t.unlink.iter().any(|p| p.name == "ipykernel"));
        let t = ok("conda-env-remove-n-X--json--yes.json");
        let names: Vec<&str> = t.unlink.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["pip", "python"]);
        assert_eq!(
            t.prefix.as_deref(),
            Some(Path::new("/anaconda/envs/fxgone"))
        );
    }

    #[test]
    fn missing_packages_are_typed() {
        assert_eq!(
            fail("conda-create--json--yes-n-X2-nonexistent-pkg.json", 1),
            CondaFailure::PackagesNotFound {
                packages: vec!["nonexistent-pkg".into()]
            }
        );
        assert_eq!(
            fail(
                "conda-create--json--yes-n-X3-python3.8-pip-ipykernel.json",
                1
            ),
            CondaFailure::PackagesNotFound {
                packages: vec!["python=3.8".into()]
            }
        );
    }

    #[test]
    fn reserved_base_is_typed() {
        for f in [
            "conda-create--json--yes-n-base.json",
            "conda-create--json--yes-p-ROOT.json",
        ] {
            let failure = fail(f, 1);
            assert!(
                matches!(failure, CondaFailure::ReservedName { ref message } if message.contains("'base'")),
                "{failure:?}"
            );
            assert!(failure.hint().is_some());
        }
    }

    #[test]
    fn unknown_env_is_typed_everywhere() {
        for f in [
            "conda-list--json-n-UNKNOWN.json",
            "conda-install--json--yes-n-UNKNOWN-pip.json",
            "conda-remove--json--yes-n-UNKNOWN--all.json",
            "conda-env-remove-n-UNKNOWN--json--yes.json",
        ] {
            assert_eq!(
                fail(f, 1),
                CondaFailure::EnvironmentLocationNotFound {
                    location: "/anaconda/envs/nosuchenv".into()
                },
                "{f}"
            );
        }
    }

    #[test]
    fn declined_prompt_exit_zero_is_a_failure() {
        let out = interpret(
            &fixture("conda-create-n-EXISTING-no-yes-stdin-devnull.txt"),
            &fixture("conda-create-n-EXISTING-no-yes-stdin-devnull.stderr.txt"),
            Some(0),
        );
        assert_eq!(out, Outcome::Failure(CondaFailure::DeclinedPrompt));
    }

    #[test]
    fn empty_stdout_uses_stderr() {
        // `conda run --json`: argparse usage error, exit 2, empty stdout.
        let stdout = fixture("conda-run--json-n-UNKNOWN-python-c-print1.json");
        assert!(stdout.is_empty());
        let stderr = fixture("conda-run--json-n-UNKNOWN-python-c-print1.stderr.txt");
        match interpret(&stdout, &stderr, Some(2)) {
            Outcome::Failure(CondaFailure::Other {
                exception_name: None,
                message,
            }) => {
                assert!(
                    message.contains("unrecognized arguments: --json"),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        }
        // `conda run` text mode: the exception name is on stderr.
        let out = interpret(
            &fixture("conda-run-n-UNKNOWN-python-c-print1.txt"),
            &fixture("conda-run-n-UNKNOWN-python-c-print1.stderr.txt"),
            Some(1),
        );
        assert_eq!(
            out,
            Outcome::Failure(CondaFailure::EnvironmentLocationNotFound {
                location: "/anaconda/envs/nosuchenv".into()
            })
        );
    }

    #[test]
    fn list_info_and_env_list() {
        let l = parse_list(&fixture("conda-list--json-n-X.json")).unwrap();
        assert_eq!(l.len(), 31);
        assert_eq!(
            (l[0].name.as_str(), l[0].version.as_str()),
            ("asttokens", "3.0.2")
        );
        assert!(l
            .iter()
            .any(|p| p.name == "python" && p.version == "3.11.7"));

        let i = parse_info(&fixture("conda-info--json.json")).unwrap();
        assert_eq!(i.version.as_deref(), Some("26.7.1"));
        assert_eq!(i.libmamba_version, None);
        assert_eq!(i.root_prefix.as_deref(), Some(Path::new("/anaconda")));
        assert_eq!(
            i.envs_dirs,
            [
                PathBuf::from("/anaconda/envs"),
                PathBuf::from("/home/azureuser/.conda/envs")
            ]
        );
        assert_eq!(i.pkgs_dirs[0], PathBuf::from("/anaconda/pkgs"));
        assert_eq!(i.channels.len(), 2);
        assert_eq!(i.envs.len(), 4);
        assert_eq!(i.platform.as_deref(), Some("linux-64"));

        for f in [
            "conda-env-list--json.json",
            "conda-env-list--json-after.json",
        ] {
            let e = parse_env_list(&fixture(f)).unwrap();
            assert_eq!(e.envs[0], PathBuf::from("/anaconda"));
            assert_eq!(e.envs.len(), 4);
            let base = &e.details[Path::new("/anaconda")];
            assert!(base.base && !base.frozen);
            assert_eq!(base.name.as_deref(), Some("base"));
            assert_eq!(
                e.details[Path::new("/anaconda/envs/azureml_py38")]
                    .name
                    .as_deref(),
                Some("azureml_py38")
            );
        }
    }

    #[test]
    fn version_fixture_is_plain_text() {
        assert_eq!(fixture("conda--version.txt").trim(), "conda 26.7.1");
        assert_eq!(
            crate::locate::flavor_from_version_output(
                &fixture("conda--version.txt"),
                crate::locate::CondaFlavor::Mamba
            ),
            crate::locate::CondaFlavor::Conda
        );
    }

    #[test]
    fn libmamba_shapes() {
        // Shapes from the reference (mamba 2.8.1 sources), not from a run.
        let info = r#"{"base environment": "/home/u/.local/share/mamba", "envs directories": ["/home/u/.local/share/mamba/envs"], "libmamba version": "2.8.1", "micromamba version": "2.8.1", "curl version": "8", "package cache": ["/p"], "channels": ["https://conda.anaconda.org/conda-forge/linux-64"], "platform": "linux-64"}"#;
        let i = parse_info(info).unwrap();
        assert_eq!(i.version.as_deref(), Some("2.8.1"));
        assert_eq!(i.libmamba_version.as_deref(), Some("2.8.1"));
        assert_eq!(
            i.root_prefix.as_deref(),
            Some(Path::new("/home/u/.local/share/mamba"))
        );

        let ok = "{\n    \"actions\": {\n        \"LINK\": [{\"name\": \"python\", \"version\": \"3.12.1\", \"build_string\": \"h1\", \"channel\": \"https://conda.anaconda.org/conda-forge\"}],\n        \"PREFIX\": \"/e/x\"\n    },\n    \"dry_run\": false,\n    \"prefix\": \"/e/x\",\n    \"success\": true\n}\n";
        match interpret(ok, "", Some(0)) {
            Outcome::Success(t) => {
                assert_eq!(t.link[0].name, "python");
                assert_eq!(t.prefix.as_deref(), Some(Path::new("/e/x")));
            }
            other => panic!("{other:?}"),
        }
        let unsolvable = r#"{"solver_problems": ["nothing provides requested nonexistent-pkg"], "success": false}"#;
        assert_eq!(
            interpret(
                unsolvable,
                "critical libmamba Could not solve for environment specs\n",
                Some(1)
            ),
            Outcome::Failure(CondaFailure::PackagesNotFound {
                packages: vec!["nonexistent-pkg".into()]
            })
        );
        let f = interpret(
            "",
            "critical libmamba Non-conda folder exists at prefix - aborting.\n",
            Some(1),
        );
        assert!(
            matches!(f, Outcome::Failure(CondaFailure::EnvExists { .. })),
            "{f:?}"
        );
        let f = interpret("", "critical libmamba Aborting.\n", Some(1));
        assert_eq!(
            f,
            Outcome::Failure(CondaFailure::Libmamba {
                message: "Aborting.".into(),
                solver_problems: vec![]
            })
        );
    }
}
