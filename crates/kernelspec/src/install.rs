//! Installing and removing kernel spec directories atomically.
//!
//! Jupyter's own install deletes the old spec before copying the new one, so a failed copy
//! loses it. Here a spec is built completely in a hidden temporary sibling inside the kernels
//! dir (resources first, `kernel.json` last, synced), then renamed into place; a replaced spec is
//! first renamed aside and only deleted once the new one is in place (and renamed back if that
//! fails). A half-written kernel is never visible under its name.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::name::KernelName;
use crate::spec::KernelSpec;

/// Deepest directory nesting [`copy_tree`] follows (guards against symlink cycles).
const MAX_COPY_DEPTH: usize = 64;

/// What to install where.
#[derive(Debug, Clone)]
pub struct InstallRequest<'a> {
    /// The kernel name (the directory name under `kernels_dir`).
    pub name: &'a KernelName,
    /// The spec to write as `kernel.json`.
    pub spec: &'a KernelSpec,
    /// The kernels directory (`.../share/jupyter/kernels`); created if missing.
    pub kernels_dir: &'a Path,
    /// Extra files (e.g. logos) or directories to copy into the spec dir, keeping their base
    /// names and permission bits.
    pub resources: Vec<PathBuf>,
    /// Replace an existing spec of the same name (otherwise [`InstallError::Exists`]).
    pub replace: bool,
}

/// Why an install failed. Nothing was changed unless stated.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A spec of that name exists and `replace` was false.
    #[error("a kernel spec already exists at {path}")]
    Exists {
        /// The existing spec dir.
        path: PathBuf,
    },
    /// The operating system refused access (a system dir without privileges, typically).
    #[error("permission denied: cannot {action} {path}")]
    PermissionDenied {
        /// What was being done.
        action: &'static str,
        /// The path refused.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Two resources (or a resource and `kernel.json`) would have the same file name.
    #[error("resource {path} clashes with another file of the same name in the spec dir")]
    ResourceClash {
        /// The resource that clashes.
        path: PathBuf,
    },
    /// Any other filesystem failure.
    #[error(transparent)]
    Io(#[from] FsFailure),
    /// The new spec **is installed** at `installed`, but the replaced copy, already moved to
    /// the hidden `leftover`, could not be deleted. Treat as success with a warning.
    #[error("installed {installed}, but failed to delete the replaced copy at {leftover}")]
    LeftoverOld {
        /// The installed spec dir.
        installed: PathBuf,
        /// The hidden leftover to clean up.
        leftover: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

fn install_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> InstallError {
    let path = path.to_owned();
    move |source| {
        if source.kind() == io::ErrorKind::PermissionDenied {
            InstallError::PermissionDenied {
                action,
                path,
                source,
            }
        } else {
            InstallError::Io(FsFailure {
                action,
                path,
                source,
            })
        }
    }
}

/// A filesystem operation that failed for a reason other than a missing path or a refused
/// permission (which the install and remove errors name themselves).
#[derive(Debug, thiserror::Error)]
#[error("failed to {action} {path}")]
pub struct FsFailure {
    /// What was being done.
    pub action: &'static str,
    /// The path involved.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

/// Why a removal failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    /// Nothing exists at the path.
    #[error("no kernel spec at {path}")]
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// The operating system refused access (hint: the spec is in a system dir).
    #[error("permission denied: cannot remove {path}")]
    PermissionDenied {
        /// The path refused.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Any other filesystem failure.
    #[error(transparent)]
    Io(#[from] FsFailure),
}

fn remove_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> RemoveError {
    let path = path.to_owned();
    move |source| match source.kind() {
        io::ErrorKind::PermissionDenied => RemoveError::PermissionDenied { path, source },
        io::ErrorKind::NotFound => RemoveError::NotFound { path },
        _ => RemoveError::Io(FsFailure {
            action,
            path,
            source,
        }),
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Flush a directory's entries to disk (best effort; not possible on every platform).
fn sync_dir(path: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(path) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Write `kernel.json` into `dir` via a temporary file that is synced and then renamed.
fn write_spec_file(dir: &Path, spec: &KernelSpec) -> Result<(), InstallError> {
    let target = dir.join("kernel.json");
    let err = install_err("write", &target);
    let mut tmp = tempfile::Builder::new()
        .prefix(".kernel.json.")
        .tempfile_in(dir)
        .map_err(install_err("create a temporary file in", dir))?;
    tmp.write_all(spec.to_file_string().as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .and_then(|()| set_mode(tmp.path(), 0o644))
        .map_err(err)?;
    tmp.persist(&target)
        .map_err(|e| install_err("write", &target)(e.error))?;
    Ok(())
}

/// Make an empty hidden directory next to `near` to rename things into, and return its path.
fn aside_path(parent: &Path, name: &str, what: &str) -> Result<PathBuf, io::Error> {
    let dir = tempfile::Builder::new()
        .prefix(&format!(".{name}.{what}-"))
        .tempdir_in(parent)?;
    Ok(dir.keep())
}

/// Move whatever is at `path` aside to a hidden sibling; returns the new path.
fn move_aside(path: &Path, parent: &Path, name: &str) -> io::Result<PathBuf> {
    let aside = aside_path(parent, name, "old")?;
    let is_real_dir = fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    if !is_real_dir {
        // rename() replaces an empty dir only with a dir; free the name for a file/symlink.
        fs::remove_dir(&aside)?;
    }
    match fs::rename(path, &aside) {
        Ok(()) => Ok(aside),
        Err(e) => {
            let _ = fs::remove_dir(&aside);
            Err(e)
        }
    }
}

/// Delete something moved aside: `kernel.json` first, so that a partly deleted leftover is no
/// longer a kernel, then the rest.
fn delete_aside(aside: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(aside)?;
    if meta.is_dir() {
        match fs::remove_file(aside.join("kernel.json")) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        fs::remove_dir_all(aside)
    } else {
        fs::remove_file(aside)
    }
}

/// Install a spec directory atomically; returns the spec dir (`kernels_dir/<name>`).
///
/// The spec dir gets mode 0755 and `kernel.json` 0644 (on Unix); resources keep their mode
/// bits and modification times. See the module docs for the replace protocol.
pub fn install(req: &InstallRequest<'_>) -> Result<PathBuf, InstallError> {
    let name = req.name.as_str();
    let kernels_dir = req.kernels_dir;
    fs::create_dir_all(kernels_dir).map_err(install_err("create", kernels_dir))?;
    let dest = kernels_dir.join(name);
    let exists = fs::symlink_metadata(&dest).is_ok();
    if exists && !req.replace {
        return Err(InstallError::Exists { path: dest });
    }

    let build = tempfile::Builder::new()
        .prefix(&format!(".{name}.new-"))
        .tempdir_in(kernels_dir)
        .map_err(install_err("create a temporary directory in", kernels_dir))?;
    let build_path = build.path().to_owned();
    set_mode(&build_path, 0o755).map_err(install_err("set permissions of", &build_path))?;
    let mut seen = vec![std::ffi::OsString::from("kernel.json")];
    for res in &req.resources {
        let Some(file_name) = res.file_name() else {
            return Err(InstallError::ResourceClash { path: res.clone() });
        };
        if seen.iter().any(|s| s == file_name) {
            return Err(InstallError::ResourceClash { path: res.clone() });
        }
        seen.push(file_name.to_owned());
        copy_tree(res, &build_path.join(file_name))
            .map_err(|CopyError { path, source }| install_err("copy", &path)(source))?;
    }
    write_spec_file(&build_path, req.spec)?;
    sync_dir(&build_path);

    let aside = if exists {
        Some(move_aside(&dest, kernels_dir, name).map_err(install_err("move aside", &dest))?)
    } else {
        None
    };
    if let Err(e) = fs::rename(&build_path, &dest) {
        if let Some(old) = &aside {
            let _ = fs::rename(old, &dest);
        }
        if matches!(
            e.kind(),
            io::ErrorKind::AlreadyExists | io::ErrorKind::DirectoryNotEmpty
        ) {
            return Err(InstallError::Exists { path: dest });
        }
        return Err(install_err("move into place", &dest)(e));
    }
    // The temporary dir now lives on as `dest`; do not let its guard delete anything.
    let _ = build.keep();
    sync_dir(kernels_dir);
    if let Some(old) = aside {
        if let Err(source) = delete_aside(&old) {
            return Err(InstallError::LeftoverOld {
                installed: dest,
                leftover: old,
                source,
            });
        }
    }
    Ok(dest)
}

/// Remove a spec directory: a symlink is unlinked (its target stays); a directory is renamed
/// to a hidden sibling first (so it disappears from listings at once) and then deleted.
pub fn remove(resource_dir: &Path) -> Result<(), RemoveError> {
    let meta = fs::symlink_metadata(resource_dir).map_err(remove_err("examine", resource_dir))?;
    if !meta.is_dir() {
        return fs::remove_file(resource_dir).map_err(remove_err("remove", resource_dir));
    }
    let parent = resource_dir.parent().unwrap_or(Path::new("."));
    let name = resource_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Everything inside must be deletable by us before anything moves: a spec that cannot be
    // deleted (another user's, in a directory we may rename in) stays where and as it was.
    check_removable(resource_dir, 0)?;
    let aside =
        aside_path(parent, &name, "removing").map_err(remove_err("prepare removal in", parent))?;
    if let Err(e) = fs::rename(resource_dir, &aside) {
        let _ = fs::remove_dir(&aside);
        return Err(remove_err("move aside", resource_dir)(e));
    }
    if let Err(e) = delete_aside(&aside) {
        // Put back what is left, so the kernel is not hidden under a dot-name.
        let _ = fs::rename(&aside, resource_dir);
        return Err(remove_err("delete", resource_dir)(e));
    }
    Ok(())
}

/// Refuses (with [`RemoveError::PermissionDenied`]) when a directory of the tree at `dir` is
/// not writable and searchable for this process (its entries could not be deleted). Symlinks
/// are not followed.
fn check_removable(dir: &Path, depth: usize) -> Result<(), RemoveError> {
    if depth >= MAX_COPY_DEPTH {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use rustix::fs::{accessat, Access, AtFlags, CWD};
        if let Err(e) = accessat(
            CWD,
            dir,
            Access::WRITE_OK | Access::EXEC_OK,
            AtFlags::EACCESS,
        ) {
            let source = io::Error::from(e);
            return Err(match source.kind() {
                io::ErrorKind::NotFound => RemoveError::NotFound {
                    path: dir.to_owned(),
                },
                io::ErrorKind::PermissionDenied => RemoveError::PermissionDenied {
                    path: dir.to_owned(),
                    source,
                },
                _ => RemoveError::Io(FsFailure {
                    action: "check before removing",
                    path: dir.to_owned(),
                    source,
                }),
            });
        }
    }
    let entries = fs::read_dir(dir).map_err(remove_err("read", dir))?;
    for entry in entries {
        let entry = entry.map_err(remove_err("read", dir))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            check_removable(&entry.path(), depth + 1)?;
        }
    }
    Ok(())
}

/// A failure inside [`copy_tree`].
#[derive(Debug, thiserror::Error)]
#[error("failed to copy {path}")]
pub struct CopyError {
    /// The source path that failed.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

/// Copy a file or a directory tree from `src` to `dst` like Python's `shutil.copytree` with
/// `copy2`: symlinks are followed, permission bits and modification times are kept. `dst`
/// must not exist.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<(), CopyError> {
    copy_rec(src, dst, 0)
}

fn copy_rec(src: &Path, dst: &Path, depth: usize) -> Result<(), CopyError> {
    let err = |source| CopyError {
        path: src.to_owned(),
        source,
    };
    let meta = fs::metadata(src).map_err(err)?;
    if meta.is_dir() {
        if depth >= MAX_COPY_DEPTH {
            return Err(err(io::Error::other(format!(
                "directory nesting deeper than {MAX_COPY_DEPTH} (symlink cycle?)"
            ))));
        }
        fs::create_dir(dst).map_err(|source| CopyError {
            path: dst.to_owned(),
            source,
        })?;
        for entry in fs::read_dir(src).map_err(err)? {
            let entry = entry.map_err(err)?;
            copy_rec(&entry.path(), &dst.join(entry.file_name()), depth + 1)?;
        }
        fs::set_permissions(dst, meta.permissions()).map_err(err)?;
    } else {
        fs::copy(src, dst).map_err(err)?;
        if let Ok(modified) = meta.modified() {
            if let Ok(f) = fs::File::options().write(true).open(dst) {
                let _ = f.set_modified(modified);
            }
        }
    }
    Ok(())
}
