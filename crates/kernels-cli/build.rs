//! Build script of the `kernels` binary: records what `kernels --version` reports about the
//! build — the commit it was built from (and that commit's date) and the target triple.
//!
//! The commit comes from `git` when the package is built from its own checkout, else from
//! `KERNELS_BUILD_COMMIT` (for builds from an unpacked source archive), else "unknown". The
//! glibc floor is not known here (the linker decides it): the binary reads it from its own
//! ELF file at run time.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=KERNELS_BUILD_COMMIT");
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = match std::env::var("KERNELS_BUILD_COMMIT") {
        Ok(given) if !given.trim().is_empty() => given.trim().to_string(),
        _ => git_commit(&manifest_dir).unwrap_or_else(|| "unknown".to_string()),
    };
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_string());
    println!("cargo:rustc-env=KERNELS_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=KERNELS_BUILD_TARGET={target}");
}

/// `HASH12 (YYYY-MM-DD)` of HEAD when `dir` is the top of a git checkout, and tells cargo to
/// run this script again when HEAD moves.
fn git_commit(dir: &Path) -> Option<String> {
    // Only the project's own checkout counts, not a repository it happens to be unpacked in.
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if std::fs::canonicalize(top.trim()).ok()? != std::fs::canonicalize(dir).ok()? {
        return None;
    }
    let log = git(dir, &["log", "-1", "--format=%H %cs"])?;
    let (hash, date) = log.trim().split_once(' ')?;
    rerun_when_head_moves(dir);
    Some(format!("{} ({date})", hash.get(..12).unwrap_or(hash)))
}

/// HEAD, its reflog, the branch it points at and the packed refs: the files a new commit or
/// checkout changes. Only existing files are named (cargo would otherwise run this script on
/// every build).
fn rerun_when_head_moves(dir: &Path) {
    let mut paths = vec![
        "HEAD".to_string(),
        "logs/HEAD".to_string(),
        "packed-refs".to_string(),
    ];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        paths.push(branch.trim().to_string());
    }
    for name in paths {
        let Some(path) = git(
            dir,
            &["rev-parse", "--path-format=absolute", "--git-path", &name],
        ) else {
            continue;
        };
        let path = path.trim();
        if Path::new(path).is_file() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

/// The stdout of a successful `git ARGS` run in `dir`.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()
}
