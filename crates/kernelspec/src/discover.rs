//! Finding kernel specs on the search path.
//!
//! A directory entry `<kernel dir>/<name>` is a kernel when it is a directory (symlinks
//! followed) that contains a regular file `kernel.json`, as in jupyter_client. Its name is the
//! lowercased entry name, valid or not (invalid names are still listed, like Jupyter, with
//! [`FoundKernel::name_valid`] false). Each `kernel.json` is read once; a broken one is kept with
//! its error, still takes the name and still shadows later copies.
//!
//! Ties: across kernel dirs the first dir wins. Within one dir two entries can lower-case to
//! the same name (`Foo/` and `foo/` on a case-sensitive filesystem); Jupyter's answer depends on
//! `os.listdir` order (and its list and lookup disagree), so we sort the entries by their bytes
//! and the first wins (`Foo` before `foo`). The losers go to [`Discovery::shadowed`].
//!
//! Missing kernel dirs are normal and silent. Everything else that goes wrong (unreadable dirs,
//! symlink loops, permission errors) becomes a [`DirProblem`]; discovery never panics or stops.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::name;
use crate::paths::{JupyterPaths, Scope};
use crate::spec::{KernelSpec, SpecError, MAX_SPEC_BYTES};

/// The result of scanning every kernel dir.
#[derive(Debug)]
pub struct Discovery {
    /// The winning kernel of each name, in discovery order (kernel dir precedence, then entry
    /// name bytes within a dir).
    pub kernels: Vec<FoundKernel>,
    /// Lower-priority copies hidden by a winner of the same name, in discovery order.
    pub shadowed: Vec<FoundKernel>,
    /// Directories or entries that could not be examined.
    pub problems: Vec<DirProblem>,
}

/// One kernel spec directory.
#[derive(Debug)]
pub struct FoundKernel {
    /// The lowercased directory name (Jupyter's kernel name; may be invalid).
    pub name: String,
    /// Whether `name` satisfies [`crate::NAME_RULE`].
    pub name_valid: bool,
    /// The spec directory, in its original case.
    pub resource_dir: PathBuf,
    /// Index into [`JupyterPaths::kernel_dirs`] of the dir it was found in.
    pub dir_index: usize,
    /// Where that dir comes from.
    pub scope: Scope,
    /// Whether the spec directory entry is a symlink (remove unlinks it then).
    pub is_symlink: bool,
    /// The parsed `kernel.json`, or why it could not be loaded.
    pub spec: Result<KernelSpec, SpecError>,
    /// Spec dirs of the same name that this one hides (set on winners only).
    pub shadows: Vec<PathBuf>,
    /// The spec dir that hides this one (set on entries of [`Discovery::shadowed`]).
    pub shadowed_by: Option<PathBuf>,
}

/// What discovery was doing when a [`DirProblem`] happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirAction {
    /// Listing a kernel dir.
    ListDir,
    /// Reading one entry of a listing.
    ReadEntry,
    /// Checking whether an entry is a spec directory.
    CheckEntry,
    /// Checking for the entry's `kernel.json`.
    CheckSpecFile,
}

impl fmt::Display for DirAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DirAction::ListDir => "list kernel dir",
            DirAction::ReadEntry => "read an entry of kernel dir",
            DirAction::CheckEntry => "examine",
            DirAction::CheckSpecFile => "check",
        })
    }
}

/// A directory or entry that could not be examined during discovery.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action} {path}")]
pub struct DirProblem {
    /// The path involved.
    pub path: PathBuf,
    /// What was being done.
    pub action: DirAction,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

/// Errors that mean "this is just not there" (Python's `isdir`/`isfile` say False silently).
fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Scan every kernel dir of `paths`. See the module docs for the rules.
pub fn discover(paths: &JupyterPaths) -> Discovery {
    let mut out = Discovery {
        kernels: Vec::new(),
        shadowed: Vec::new(),
        problems: Vec::new(),
    };
    let mut index: HashMap<String, usize> = HashMap::new();
    for (dir_index, kd) in paths.kernel_dirs().iter().enumerate() {
        for found in scan_dir(&kd.path, dir_index, kd.scope, &mut out.problems) {
            match index.get(&found.name) {
                Some(&winner) => {
                    let w = &mut out.kernels[winner];
                    w.shadows.push(found.resource_dir.clone());
                    out.shadowed.push(FoundKernel {
                        shadowed_by: Some(w.resource_dir.clone()),
                        ..found
                    });
                }
                None => {
                    index.insert(found.name.clone(), out.kernels.len());
                    out.kernels.push(found);
                }
            }
        }
    }
    out
}

/// The spec dirs in one kernel dir, sorted by entry name bytes.
fn scan_dir(
    dir: &Path,
    dir_index: usize,
    scope: Scope,
    problems: &mut Vec<DirProblem>,
) -> Vec<FoundKernel> {
    let listing = match std::fs::read_dir(dir) {
        Ok(l) => l,
        Err(e) if is_absent(&e) => return Vec::new(),
        Err(source) => {
            problems.push(DirProblem {
                path: dir.to_owned(),
                action: DirAction::ListDir,
                source,
            });
            return Vec::new();
        }
    };
    let mut entries = Vec::new();
    for entry in listing {
        match entry {
            Ok(e) => entries.push(e),
            Err(source) => problems.push(DirProblem {
                path: dir.to_owned(),
                action: DirAction::ReadEntry,
                source,
            }),
        }
    }
    entries.sort_by(|a, b| {
        a.file_name()
            .as_encoded_bytes()
            .cmp(b.file_name().as_encoded_bytes())
    });
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.path();
        let file_type = entry.file_type();
        let is_symlink = file_type.as_ref().is_ok_and(|t| t.is_symlink());
        let is_dir = match file_type {
            Ok(t) if t.is_dir() => true,
            Ok(t) if t.is_file() => false,
            // Symlinks and unknown types: follow.
            _ => match std::fs::metadata(&path) {
                Ok(m) => m.is_dir(),
                Err(e) if is_absent(&e) => false,
                Err(source) => {
                    problems.push(DirProblem {
                        path,
                        action: DirAction::CheckEntry,
                        source,
                    });
                    continue;
                }
            },
        };
        if !is_dir {
            continue;
        }
        let spec_path = path.join("kernel.json");
        let meta = match std::fs::metadata(&spec_path) {
            Ok(m) if m.is_file() => m,
            Ok(_) => continue,
            Err(e) if is_absent(&e) => continue,
            Err(source) => {
                problems.push(DirProblem {
                    path: spec_path,
                    action: DirAction::CheckSpecFile,
                    source,
                });
                continue;
            }
        };
        let spec = read_spec(&spec_path, meta.len());
        let name = entry.file_name().to_string_lossy().to_lowercase();
        found.push(FoundKernel {
            name_valid: name::check(&name).is_ok(),
            name,
            resource_dir: path,
            dir_index,
            scope,
            is_symlink,
            spec,
            shadows: Vec::new(),
            shadowed_by: None,
        });
    }
    found
}

/// Read a `kernel.json` already known to be a regular file of `len` bytes.
fn read_spec(path: &Path, len: u64) -> Result<KernelSpec, SpecError> {
    let too_large = || SpecError::TooLarge {
        path: path.to_owned(),
        limit: MAX_SPEC_BYTES,
    };
    if len > MAX_SPEC_BYTES {
        return Err(too_large());
    }
    let read_err = |source| SpecError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_SPEC_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_SPEC_BYTES {
        return Err(too_large());
    }
    KernelSpec::from_json_bytes(&bytes).map_err(|e| match e {
        SpecError::Invalid { problem, .. } => SpecError::Invalid {
            path: Some(path.to_owned()),
            problem,
        },
        other => other,
    })
}

impl Discovery {
    /// The winning kernel named `name`, compared case-insensitively (as Jupyter's lookup does).
    pub fn get(&self, name: &str) -> Option<&FoundKernel> {
        let wanted = name.to_lowercase();
        self.kernels.iter().find(|k| k.name == wanted)
    }

    /// Up to `n` kernel names that look like `name` (for "did you mean" hints; see
    /// [`crate::closest`]).
    pub fn closest_names(&self, name: &str, n: usize) -> Vec<&str> {
        crate::suggest::closest(name, self.kernels.iter().map(|k| k.name.as_str()), n)
    }

    /// The kernels whose spec loaded, in discovery order (what `jupyter kernelspec list --json`
    /// shows, minus Jupyter's synthetic `python3`).
    pub fn loaded(&self) -> impl Iterator<Item = (&FoundKernel, &KernelSpec)> {
        self.kernels
            .iter()
            .filter_map(|k| k.spec.as_ref().ok().map(|s| (k, s)))
    }
}
