//! `kernels add NAME --clone ENV`: a real venv (made by `kernels add` with the real uv) and
//! a real conda environment (the REAL conda, `KERNELS_TEST_CONDA`) are cloned; the copies'
//! kernels boot with the source's packages; the protected, read-only source is byte-for-byte
//! what it was; a failing clone leaves nothing behind; a re-run changes nothing.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::add::{add_json, run_kernel, status_and_steps};
use super::export::{conda_sandbox, real_conda};
use super::run::venv_kernel;
use crate::common::Sandbox;
use crate::require_python;

/// Every entry under `dir`: kind, mode, size, mtime and a hash of the bytes (of a file) or
/// the target (of a symlink).
type Fingerprint = BTreeMap<PathBuf, (u32, u64, i128, u64)>;

fn fingerprint(dir: &Path) -> Fingerprint {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, (u32, u64, i128, u64)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let mut h = DefaultHasher::new();
            if m.file_type().is_symlink() {
                std::fs::read_link(&p).unwrap().hash(&mut h);
            } else if m.is_file() {
                std::fs::read(&p).unwrap().hash(&mut h);
            }
            let mtime = m
                .modified()
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i128);
            out.insert(
                p.clone(),
                (m.permissions().mode(), m.len(), mtime, h.finish()),
            );
            if m.is_dir() {
                walk(&p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &mut out);
    assert!(
        out.len() > 10,
        "nothing to fingerprint at {}",
        dir.display()
    );
    out
}

/// Takes write permission away from everything under a directory and gives the exact
/// modes back when dropped (so the sandbox can be deleted even when the test fails). As
/// root, permissions stop nothing; the fingerprint is what proves the source untouched.
struct ReadOnly(Vec<(PathBuf, u32)>);

impl ReadOnly {
    fn new(dir: &Path) -> ReadOnly {
        let mut saved = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(p) = stack.pop() {
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if m.file_type().is_symlink() {
                continue;
            }
            if m.is_dir() {
                stack.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
            }
            saved.push((p, m.permissions().mode()));
        }
        for (p, mode) in &saved {
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode & !0o222));
        }
        ReadOnly(saved)
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        // Directories last were saved first: restore in reverse so parents stay enterable.
        for (p, mode) in self.0.iter().rev() {
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(*mode));
        }
    }
}

/// Asserts two fingerprints are equal, naming the first entries that differ.
fn assert_same(what: &str, a: &Fingerprint, b: &Fingerprint) {
    let diff: Vec<String> = a
        .iter()
        .filter(|(p, v)| b.get(*p) != Some(*v))
        .map(|(p, v)| format!("{}: {v:?} -> {:?}", p.display(), b.get(p)))
        .chain(
            b.keys()
                .filter(|p| !a.contains_key(*p))
                .map(|p| format!("{}: new", p.display())),
        )
        .take(10)
        .collect();
    assert!(diff.is_empty(), "{what}:\n{}", diff.join("\n"));
}

/// The pinned distributions of a kernel's environment, as `kernels export` lists them.
fn pins(sb: &Sandbox, kernel: &str) -> Vec<String> {
    let out = sb.kernels(&["export", kernel, "--format", "requirements"]);
    out.ok();
    out.stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

fn prints_prefix(sb: &Sandbox, kernel: &str, module: &str) -> String {
    let code = format!("import {module}, sys; print(sys.prefix)");
    let report = run_kernel(sb, kernel, &code, &[]);
    assert_eq!(report["status"], "ok", "{report:#}");
    report["stdout"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[test]
fn a_protected_read_only_venv_is_cloned_and_left_byte_for_byte_unchanged() {
    require_python!();
    let Some((sb, src)) = venv_kernel("src") else {
        return;
    };
    sb.kernels(&["protect", "src", src.to_str().unwrap()]).ok();
    let before = fingerprint(&src);
    let guard = ReadOnly::new(&src);
    let locked = fingerprint(&src);

    let copy = sb.root().join("envs/copy");
    let c = copy.to_str().unwrap();
    // Dry run: the plan, nothing made.
    let out = sb.kernels(&["add", "copy", "--clone", "src", "--prefix", c, "--dry-run"]);
    out.ok();
    assert!(out.stdout.contains("ipykernel=="), "{}", out.stdout);
    assert!(!copy.exists());

    // By kernel name: a fresh venv with the same distributions.
    let doc = add_json(&sb, &["copy", "--clone", "src", "--prefix", c]);
    assert_eq!(status_and_steps(&doc).0, "create");
    assert_eq!(prints_prefix(&sb, "copy", "ipykernel"), c);
    assert_eq!(pins(&sb, "copy"), pins(&sb, "src"));
    // A re-run: unchanged, nothing runs.
    let doc = add_json(&sb, &["copy", "--clone", "src", "--prefix", c]);
    assert_eq!(status_and_steps(&doc), ("unchanged".into(), vec![]));

    // By path, through kernels.toml `clone = "..."`.
    let toml = sb.root().join("kernels.toml");
    let c2 = sb.root().join("envs/copy2");
    std::fs::write(
        &toml,
        format!(
            "version = 1\n[[kernel]]\nname = \"copy2\"\nclone = {:?}\nprefix = {:?}\n",
            src.display().to_string(),
            c2.display().to_string()
        ),
    )
    .unwrap();
    sb.kernels(&["apply", toml.to_str().unwrap()]).ok();
    assert_eq!(pins(&sb, "copy2"), pins(&sb, "src"));

    // A failing clone (an extra package that does not exist) leaves no environment.
    let c3 = sb.root().join("envs/copy3");
    let out = sb.kernels(&[
        "add",
        "copy3",
        "--clone",
        "src",
        "--prefix",
        c3.to_str().unwrap(),
        "--pip",
        "kernels-e2e-no-such-package-0xdead",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(!c3.exists());
    assert!(!sb.user_kernels().join("copy3").exists());

    // No such source; the source as its own copy.
    let out = sb.kernels(&["add", "x", "--clone", "no-such-env-e2e"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("hint"), "{}", out.stderr);
    let out = sb.kernels(&[
        "add",
        "x",
        "--clone",
        "src",
        "--prefix",
        src.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    // Usage: --clone with --existing.
    let out = sb.kernels(&["add", "x", "--clone", "src", "--existing", c]);
    assert_eq!(out.code, 2, "{}", out.stderr);

    assert_same("the source was written to", &locked, &fingerprint(&src));
    drop(guard);
    assert_same("the source is not as before", &before, &fingerprint(&src));
}

#[test]
fn a_read_only_conda_env_is_cloned_with_conda_create_clone() {
    require_python!();
    let Some(conda) = real_conda() else {
        crate::common::skip("no real conda (set KERNELS_TEST_CONDA)");
        return;
    };
    let sb = conda_sandbox(&conda);
    let src = sb.root().join("envs/csrc");
    let s = src.to_str().unwrap();
    add_json(
        &sb,
        &["csrc", "--backend", "conda", "--prefix", s, "-p", "numpy"],
    );
    let guard = ReadOnly::new(&src);
    let locked = fingerprint(&src);

    let copy = sb.root().join("envs/ccopy");
    let c = copy.to_str().unwrap();
    let out = sb.kernels(&["add", "ccopy", "--clone", s, "--prefix", c, "--dry-run"]);
    out.ok();
    assert!(
        out.stdout.contains(&format!("--clone {s}")),
        "{}",
        out.stdout
    );
    let doc = add_json(&sb, &["ccopy", "--clone", s, "--prefix", c]);
    assert_eq!(status_and_steps(&doc).0, "create");
    assert_eq!(prints_prefix(&sb, "ccopy", "numpy"), c);
    let doc = add_json(&sb, &["ccopy", "--clone", s, "--prefix", c]);
    assert_eq!(status_and_steps(&doc), ("unchanged".into(), vec![]));
    assert_same("the source was written to", &locked, &fingerprint(&src));
    drop(guard);
}
