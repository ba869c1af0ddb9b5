//! The few filesystem questions the search-path rules ask: resolve symlinks leniently like
//! Python's `Path.resolve()`, "is this a writable directory", "do I own this prefix".

use std::path::{Path, PathBuf};

/// `Path.resolve()` (non-strict): canonicalise the longest existing ancestor, then append the
/// rest unchanged. Relative paths are returned as they are.
pub(crate) fn resolve_lenient(path: &Path) -> PathBuf {
    if !path.is_absolute() {
        return path.to_owned();
    }
    let mut existing = path;
    let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                existing = parent;
            }
            _ => return path.to_owned(),
        }
    }
}

/// `os.path.isdir(p) and os.access(p, os.W_OK)`.
pub(crate) fn is_writable_dir(path: &Path) -> bool {
    path.is_dir() && is_writable(path)
}

#[cfg(unix)]
fn is_writable(path: &Path) -> bool {
    rustix::fs::access(path, rustix::fs::Access::WRITE_OK).is_ok()
}

#[cfg(not(unix))]
fn is_writable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.permissions().readonly())
}

/// Whether the current user "owns" `prefix`, as jupyter_core's `_do_i_own` decides it: walk up
/// to the first existing ancestor of the resolved path; owned if its owner is the effective
/// user or, failing that, if it is writable.
pub(crate) fn owned_by_me(prefix: &Path) -> bool {
    let resolved = resolve_lenient(prefix);
    let mut p = resolved.as_path();
    while !p.exists() {
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    owner_is_me(p) || is_writable(p)
}

#[cfg(unix)]
fn owner_is_me(p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).is_ok_and(|m| m.uid() == rustix::process::geteuid().as_raw())
}

#[cfg(not(unix))]
fn owner_is_me(_p: &Path) -> bool {
    false
}

/// Whether this process runs as root (tests that depend on permission errors skip then).
pub fn running_as_root() -> bool {
    #[cfg(unix)]
    {
        rustix::process::geteuid().is_root()
    }
    #[cfg(not(unix))]
    {
        false
    }
}
