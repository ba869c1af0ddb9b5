//! Whether a directory is this user's to write (conda's "writable" for `envs_dirs` and
//! `pkgs_dirs`: a root-owned `/anaconda/pkgs` is not, for a notebook user).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Whether this process may write into `dir`, or create it: the permission bits of `dir`,
/// else of its nearest existing ancestor, against the effective user and group (root may
/// write anything). conda's notion of a writable `envs_dirs`/`pkgs_dirs` entry.
pub fn writable_or_creatable(dir: &Path) -> bool {
    let mut probe = Some(dir);
    while let Some(p) = probe {
        if let Ok(meta) = std::fs::metadata(p) {
            return meta.is_dir() && may_write(&meta);
        }
        probe = p.parent();
    }
    false
}

/// Permission bits against the effective user (root may write anything).
fn may_write(meta: &std::fs::Metadata) -> bool {
    let euid = rustix::process::geteuid();
    if euid.is_root() {
        return true;
    }
    let mode = meta.mode();
    if meta.uid() == euid.as_raw() {
        mode & 0o200 != 0
    } else if meta.gid() == rustix::process::getegid().as_raw() {
        mode & 0o020 != 0
    } else {
        mode & 0o002 != 0
    }
}
