//! The declarative file, `kernels.toml`: the kernels a machine must have, for
//! `kernels apply` (image build and startup scripts).
//!
//! ```toml
//! version = 1                      # optional; the only version there is
//!
//! [[kernel]]
//! name = "torch"                   # required; the kernel (and environment) name
//! display_name = "PyTorch"         # default "Python (torch)"
//! python = "3.11"
//! packages = ["pytorch", "numpy"]  # conda packages (PyPI packages with the venv backend)
//! pip = ["wandb"]
//! env = { OMP_NUM_THREADS = "4" }
//! protect = true
//!
//! [[kernel]]
//! name = "proj"
//! existing = "/opt/envs/proj"      # register this environment instead of creating one
//! ```
//!
//! Every key is described in `docs/reference/kernels-toml.md`. Reading is strict: unknown
//! keys (with a "did you mean" suggestion), wrong types, invalid or duplicate names and
//! contradictory keys are reported all at once, each as `FILE:LINE:COLUMN: FIELD: message`
//! (a usage error, exit 2, before anything is touched). Relative paths resolve against the
//! file's directory, `~` against the home directory of the user the file is applied for.
//!
//! ```
//! use kernels::declarative::parse_str;
//! use std::path::Path;
//!
//! let file = parse_str("[[kernel]]\nname = \"Demo\"\npip = [\"numpy\"]\n",
//!                      Path::new("/srv/kernels.toml"), None).unwrap();
//! assert_eq!(file.kernels[0].name.as_str(), "demo");
//!
//! let err = parse_str("[[kernel]]\nname = \"x\"\npackges = []\n",
//!                     Path::new("/srv/kernels.toml"), None).unwrap_err();
//! assert_eq!(err.to_string(),
//!            "/srv/kernels.toml:3:1: kernel `x`.packges: unknown key `packges` (did you mean `packages`?)");
//! ```

mod document;
mod model;
mod parse;
mod report;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use envs::Language;
use kernelspec::bounded::BoundedReadError;
use kernelspec::{Discovery, FoundKernel, KernelName};
use serde::Serialize;
use serde_json::Value;

use crate::policy::{Policy, Refusal};
use crate::request::{
    BackendChoice, EnvSource, InstallMode, KernelRequest, KernelScope, Origin, Packages,
};

/// The file format version this build reads (`version = 1`).
pub const FILE_VERSION: u32 = 1;

/// Files larger than this are refused (a kernels.toml is a few kilobytes).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The key under `metadata.kernels` in kernel.json naming the file a kernel was applied
/// from (its canonical absolute path). `apply --prune` only removes kernels whose value is
/// the file being applied.
pub const APPLY_FILE_KEY: &str = "apply_file";

/// A parsed kernels.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelsFile {
    /// The file as given (for messages).
    pub path: PathBuf,
    /// Its format version.
    pub version: u32,
    /// The kernels, in file order.
    pub kernels: Vec<KernelEntry>,
}

/// Where a kernel's spec is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileScope {
    /// The user's Jupyter data dir (`jupyter kernelspec install --user`).
    #[default]
    User,
    /// The first system kernels dir (`/usr/local/share/jupyter/kernels`), visible to every user.
    System,
    /// The environment's own `share/jupyter/kernels` (`--sys-prefix`).
    SysPrefix,
}

/// One `[[kernel]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelEntry {
    /// `name`, validated and lowercased as Jupyter does.
    pub name: KernelName,
    /// `display_name`.
    pub display_name: Option<String>,
    /// `language`: `python` (default) or `r`.
    #[serde(serialize_with = "language_word")]
    pub language: Language,
    /// `backend`: `auto` (default), `conda`, `mamba`, `micromamba`, `venv`.
    pub backend: BackendChoice,
    /// `python`: version for a new environment.
    pub python: Option<String>,
    /// `packages`: conda-family packages.
    pub packages: Vec<String>,
    /// `pip`: pip packages.
    pub pip: Vec<String>,
    /// `requirements`: a pip requirements file (absolute).
    pub requirements: Option<PathBuf>,
    /// `environment_file`: a conda environment.yml (absolute).
    pub environment_file: Option<PathBuf>,
    /// `channels`: conda channels.
    pub channels: Vec<String>,
    /// `existing`: an environment to register instead of creating one (absolute).
    pub existing: Option<PathBuf>,
    /// `clone`: copy this environment (a path, kernel name or conda environment name).
    pub clone: Option<String>,
    /// `prefix`: where to create the environment instead of the backend's default place.
    pub prefix: Option<PathBuf>,
    /// `env`: variables for the kernel.
    pub env: BTreeMap<String, String>,
    /// `scope`: `user` (default), `system`, `sys-prefix`.
    pub scope: FileScope,
    /// `protect`: record the kernel and its environment as protected (required).
    pub protect: bool,
    /// `provision_uv`: whether a new venv may use kernels' own uv (default `true`).
    pub provision_uv: bool,
    /// Line of the `[[kernel]]` header.
    pub line: usize,
}

fn language_word<S: serde::Serializer>(l: &Language, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match l {
        Language::Python => "python",
        Language::R => "r",
    })
}

impl KernelEntry {
    /// The request the plan/apply core works from. `system_kernel_dir` is where
    /// `scope = "system"` kernels go (the search path's first system dir); `identity` is the
    /// file's [`file_identity`], recorded in the kernelspec for `apply --prune`.
    pub fn to_request(&self, system_kernel_dir: &Path, identity: &Path) -> KernelRequest {
        let env = match &self.existing {
            Some(path) => EnvSource::Existing { path: path.clone() },
            None => EnvSource::New {
                backend: self.backend,
                prefix: self.prefix.clone(),
            },
        };
        let scope = match self.scope {
            FileScope::User => KernelScope::User,
            FileScope::SysPrefix => KernelScope::SysPrefix,
            FileScope::System => KernelScope::KernelsDir(system_kernel_dir.to_path_buf()),
        };
        let mut req = KernelRequest::new(self.name.clone());
        req.display_name = self.display_name.clone();
        req.language = self.language;
        req.env = env;
        req.packages = Packages {
            python: self.python.clone(),
            conda: self.packages.clone(),
            pip: self.pip.clone(),
            requirements: self.requirements.clone(),
            environment_file: self.environment_file.clone(),
            channels: self.channels.clone(),
        };
        req.install_mode = InstallMode::Missing;
        req.clone = self.clone.clone();
        req.kernel_env = self.env.clone();
        req.scope = scope;
        req.origin = Origin::Apply;
        req.apply_file = Some(identity.to_path_buf());
        req.provision_uv = self.provision_uv;
        req
    }
}

impl KernelsFile {
    /// The names the file lists.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.kernels.iter().map(|k| k.name.as_str())
    }

    /// One request per kernel, in file order (see [`KernelEntry::to_request`]).
    pub fn requests(&self, system_kernel_dir: &Path, identity: &Path) -> Vec<KernelRequest> {
        self.kernels
            .iter()
            .map(|k| k.to_request(system_kernel_dir, identity))
            .collect()
    }
}

/// One problem in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (characters).
    pub column: usize,
    /// The field, e.g. ``kernel `torch`.packages`` (none for syntax errors).
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

/// Every problem found in a file (never empty), or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileErrors {
    /// The file.
    pub path: PathBuf,
    /// The problems, in file order.
    pub errors: Vec<FileError>,
}

impl fmt::Display for FileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}:{}:{}: ", self.path.display(), e.line, e.column)?;
            if let Some(field) = &e.field {
                write!(f, "{field}: ")?;
            }
            f.write_str(&e.message)?;
            if let Some(hint) = &e.hint {
                write!(f, " ({hint})")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for FileErrors {}

/// Why a kernels.toml could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Missing or unreadable.
    #[error("reading {}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Larger than [`MAX_FILE_BYTES`].
    #[error("{} is {size} bytes; a kernels.toml may be at most {MAX_FILE_BYTES}", .path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// Not a regular file (a FIFO, a device such as `/dev/zero`, a directory).
    #[error("{} is {kind}, not a regular file", .path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: kernelspec::bounded::FileKind,
    },
    /// Not UTF-8.
    #[error("{} is not UTF-8 text", .path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// Read, but invalid.
    #[error(transparent)]
    Invalid(#[from] FileErrors),
}

/// Reads and validates `path`; relative paths in it resolve against its directory, `~`
/// against `home`. The returned [`KernelsFile::path`] is `path` as given.
pub fn parse_file(path: &Path, home: Option<&Path>) -> Result<KernelsFile, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = kernelspec::bounded::read_regular(path, MAX_FILE_BYTES).map_err(|e| match e {
        BoundedReadError::Io { source, .. } => io(source),
        BoundedReadError::TooLarge { .. } => ReadError::TooLarge {
            path: path.to_path_buf(),
            size: std::fs::metadata(path).map_or(MAX_FILE_BYTES + 1, |m| m.len()),
        },
        BoundedReadError::NotRegular { kind, .. } => ReadError::NotAFile {
            path: path.to_path_buf(),
            kind,
        },
    })?;
    let text = String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8 {
        path: path.to_path_buf(),
    })?;
    let absolute = std::path::absolute(path).map_err(io)?;
    let base = absolute.parent().unwrap_or(Path::new("/")).to_path_buf();
    let ctx = report::Context {
        shown: path,
        base: &base,
        home,
    };
    Ok(parse::parse(&text, &ctx)?)
}

/// Parses the text of a file that would be at `path` (an absolute path; relative paths in the
/// file resolve against its directory).
pub fn parse_str(text: &str, path: &Path, home: Option<&Path>) -> Result<KernelsFile, FileErrors> {
    let base = path.parent().unwrap_or(Path::new("/"));
    let ctx = report::Context {
        shown: path,
        base,
        home,
    };
    parse::parse(text, &ctx)
}

/// The identity of an applied file as recorded in kernel.json: its canonical absolute path
/// (symlinks resolved), so `./kernels.toml` and `/etc/kernels.toml` via a symlink agree.
pub fn file_identity(path: &Path) -> std::io::Result<PathBuf> {
    std::fs::canonicalize(path)
}

/// A kernel `apply --prune` would remove, or refuses to.
#[derive(Debug)]
pub struct PruneCandidate<'d> {
    /// The kernel.
    pub kernel: &'d FoundKernel,
    /// `Err` when the protection policy forbids removing it (it is then left alone).
    pub verdict: Result<(), Refusal>,
}

/// The kernels `apply --prune` removes: every kernelspec (winning or shadowed copy) whose
/// `metadata.kernels` says `"managed": true`, `"source": "apply"` and
/// `"apply_file": <identity>` — made by applying *this* file — and whose name the file no
/// longer lists. Kernels made by `kernels add`, by another file, or by anything else are never
/// candidates. Protected ones are candidates with a refusal, so they can be reported.
pub fn prune_candidates<'d>(
    file: &KernelsFile,
    identity: &Path,
    discovery: &'d Discovery,
    policy: &Policy,
) -> Vec<PruneCandidate<'d>> {
    let listed: Vec<&str> = file.names().collect();
    discovery
        .kernels
        .iter()
        .chain(discovery.shadowed.iter())
        .filter(|k| !listed.contains(&k.name.as_str()))
        .filter(|k| applied_from(k).is_some_and(|f| f == identity))
        .map(|k| PruneCandidate {
            kernel: k,
            verdict: policy.check_prune_kernel(k),
        })
        .collect()
}

/// The file a kernel was applied from, when it is a managed kernel written by `apply`.
pub fn applied_from(kernel: &FoundKernel) -> Option<PathBuf> {
    let spec = kernel.spec.as_ref().ok()?;
    let meta = spec.metadata.get(crate::spec_for_env::METADATA_KEY)?;
    let managed = meta.get("managed").and_then(Value::as_bool) == Some(true);
    let from_apply = meta.get("source").and_then(Value::as_str) == Some("apply");
    let file = meta.get(APPLY_FILE_KEY).and_then(Value::as_str)?;
    (managed && from_apply).then(|| PathBuf::from(file))
}

#[cfg(test)]
mod tests;
