//! Discovery on temporary kernel dirs.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use kernelspec::{discover, JupyterPaths, PathsInput, Platform, Scope};

const OK: &str =
    r#"{"argv": ["python", "-f", "{connection_file}"], "display_name": "D", "language": "python"}"#;

struct Tree {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Tree {
    fn new() -> Tree {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        Tree { _tmp: tmp, root }
    }

    /// `<root>/<dir>/kernels/<name>/kernel.json`
    fn spec(&self, dir: &str, name: &str, body: &str) -> PathBuf {
        let d = self.root.join(dir).join("kernels").join(name);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("kernel.json"), body).unwrap();
        d
    }

    fn kernels(&self, dir: &str) -> PathBuf {
        let d = self.root.join(dir).join("kernels");
        fs::create_dir_all(&d).unwrap();
        d
    }

    /// Search path: JUPYTER_PATH = jp1:jp2, data dir = data, IPython dir = ipy; the system
    /// dirs are moved into the tree too (platform-dirs mode reads them from XDG_DATA_DIRS), so
    /// kernels installed on the machine (Debian's IRkernel puts `ir` in /usr/share/jupyter)
    /// cannot leak into these tests.
    fn paths(&self) -> JupyterPaths {
        let r = |p: &str| self.root.join(p).display().to_string();
        let input = PathsInput::new(Platform::current(), Some(self.root.join("home")))
            .var(
                "JUPYTER_PATH",
                &format!(
                    "{}{}{}",
                    r("jp1"),
                    Platform::current().list_separator(),
                    r("jp2")
                ),
            )
            .var("JUPYTER_DATA_DIR", &r("data"))
            .var("IPYTHONDIR", &r("ipy"))
            .var("PYTHONNOUSERSITE", "1")
            .var("JUPYTER_PLATFORM_DIRS", "1")
            .var("XDG_DATA_DIRS", &r("sys"));
        JupyterPaths::new(&input)
    }
}

#[test]
fn first_dir_wins_and_shadows_are_recorded() {
    let t = Tree::new();
    let a = t.spec("jp1", "dup", OK);
    let b = t.spec("jp2", "dup", OK);
    let c = t.spec("data", "dup", OK);
    t.spec("data", "solo", OK);
    let found = discover(&t.paths());
    assert!(found.problems.is_empty(), "{:?}", found.problems);
    let names: Vec<&str> = found.kernels.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["dup", "solo"]);
    let dup = found.get("DUP").unwrap();
    assert_eq!(dup.resource_dir, a);
    assert_eq!(dup.scope, Scope::JupyterPath);
    assert_eq!(dup.dir_index, 0);
    assert_eq!(dup.shadows, [b.clone(), c.clone()]);
    assert_eq!(found.shadowed.len(), 2);
    assert_eq!(found.shadowed[0].resource_dir, b);
    assert_eq!(found.shadowed[0].shadowed_by.as_deref(), Some(a.as_path()));
    assert_eq!(found.get("solo").unwrap().scope, Scope::User);
}

#[test]
fn broken_spec_still_takes_the_name() {
    let t = Tree::new();
    let broken = t.spec("jp1", "k", "{\"argv\": [");
    let valid = t.spec("data", "k", OK);
    let found = discover(&t.paths());
    let k = found.get("k").unwrap();
    assert_eq!(k.resource_dir, broken);
    let err = k.spec.as_ref().unwrap_err();
    assert!(err.to_string().contains("kernel.json"), "{err}");
    assert_eq!(found.shadowed[0].resource_dir, valid);
    assert!(found.shadowed[0].spec.is_ok());
    assert_eq!(found.loaded().count(), 0);
}

#[test]
fn names_are_lowercased_and_invalid_names_still_listed() {
    let t = Tree::new();
    let mixed = t.spec("data", "MixedCase", OK);
    t.spec("data", "bad name", OK);
    t.spec("data", ".hidden", OK);
    let found = discover(&t.paths());
    let m = found.get("mixedcase").unwrap();
    assert_eq!(m.resource_dir, mixed, "original case kept");
    assert!(m.name_valid);
    let bad = found.get("bad name").unwrap();
    assert!(!bad.name_valid);
    assert!(found.get(".hidden").unwrap().name_valid);
}

#[test]
fn case_collisions_in_one_dir_sort_by_bytes_first_wins() {
    let t = Tree::new();
    let upper = t.spec("data", "Foo", OK);
    let lower = t.spec("data", "foo", OK);
    if fs::read_dir(t.kernels("data")).unwrap().count() < 2 {
        return crate::skip::skip("the filesystem is case-insensitive");
    }
    let found = discover(&t.paths());
    assert_eq!(found.get("foo").unwrap().resource_dir, upper);
    assert_eq!(found.shadowed[0].resource_dir, lower);
    assert_eq!(
        found.shadowed[0].shadowed_by.as_deref(),
        Some(upper.as_path())
    );
}

#[test]
fn only_directories_with_a_kernel_json_file_count() {
    let t = Tree::new();
    let k = t.kernels("data");
    fs::create_dir_all(k.join("no-json")).unwrap();
    fs::write(k.join("plain-file"), OK).unwrap();
    fs::create_dir_all(k.join("json-is-dir").join("kernel.json")).unwrap();
    t.spec("data", "real", OK);
    let found = discover(&t.paths());
    let names: Vec<&str> = found.kernels.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["real"]);
    assert!(found.problems.is_empty());
}

#[cfg(unix)]
#[test]
fn symlinked_spec_dirs_count_and_loops_are_problems_not_hangs() {
    use std::os::unix::fs::symlink;
    let t = Tree::new();
    let target = t.root.join("elsewhere").join("linked");
    fs::create_dir_all(&target).unwrap();
    fs::write(target.join("kernel.json"), OK).unwrap();
    let k = t.kernels("data");
    symlink(&target, k.join("linked")).unwrap();
    symlink(k.join("missing"), k.join("dangling")).unwrap();
    symlink(k.join("loop-b"), k.join("loop-a")).unwrap();
    symlink(k.join("loop-a"), k.join("loop-b")).unwrap();
    // A kernels dir that is itself a symlink loop.
    fs::create_dir_all(t.root.join("jp1")).unwrap();
    symlink(
        t.root.join("jp1").join("kernels"),
        t.root.join("jp1").join("kernels"),
    )
    .unwrap();
    let start = Instant::now();
    let found = discover(&t.paths());
    assert!(start.elapsed().as_secs() < 5);
    let linked = found.get("linked").unwrap();
    assert!(linked.is_symlink);
    assert!(linked.spec.is_ok());
    assert!(found.get("dangling").is_none());
    let problem_paths: Vec<&Path> = found.problems.iter().map(|p| p.path.as_path()).collect();
    assert!(
        problem_paths.contains(&k.join("loop-a").as_path()),
        "{:?}",
        found.problems
    );
    assert!(problem_paths.contains(&k.join("loop-b").as_path()));
    assert!(problem_paths.contains(&t.root.join("jp1").join("kernels").as_path()));
    for p in &found.problems {
        assert!(p.to_string().contains(&p.path.display().to_string()));
    }
}

#[cfg(unix)]
#[test]
fn unreadable_dirs_are_problems() {
    use std::os::unix::fs::PermissionsExt;
    // Root can read any directory: as root, the test runs again as an ordinary user.
    if crate::skip::rerun_unprivileged(kernelspec::running_as_root()) {
        return;
    }
    let t = Tree::new();
    let k = t.kernels("data");
    t.spec("data", "locked", OK);
    let locked = k.join("locked");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    let jp1 = t.kernels("jp1");
    fs::set_permissions(&jp1, fs::Permissions::from_mode(0o000)).unwrap();
    let found = discover(&t.paths());
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&jp1, fs::Permissions::from_mode(0o755)).unwrap();
    let paths: Vec<&Path> = found.problems.iter().map(|p| p.path.as_path()).collect();
    assert!(paths.contains(&jp1.as_path()), "{:?}", found.problems);
    assert!(
        paths.contains(&locked.join("kernel.json").as_path()),
        "{:?}",
        found.problems
    );
}

#[test]
fn closest_names_suggest_similar_kernels() {
    let t = Tree::new();
    for n in ["python3", "python3-dev", "ir", "julia-1.10"] {
        t.spec("data", n, OK);
    }
    let found = discover(&t.paths());
    assert_eq!(found.closest_names("pyton3", 2), ["python3"]);
    assert_eq!(found.closest_names("Python", 5), ["python3", "python3-dev"]);
    assert_eq!(found.closest_names("julia", 3), ["julia-1.10"]);
    assert!(found.closest_names("zzzzzzzz", 3).is_empty());
}

#[test]
fn fifty_specs_are_discovered_repeatably() {
    let t = Tree::new();
    let body = std::fs::read_to_string(
        super::support::fixtures().join("valid/ipykernel-7.4-env/kernel.json"),
    )
    .unwrap();
    for i in 0..50 {
        t.spec(
            if i % 2 == 0 { "data" } else { "jp2" },
            &format!("k{i:02}"),
            &body,
        );
    }
    let paths = t.paths();
    let _warm = discover(&paths);
    let runs = 20;
    let start = Instant::now();
    for _ in 0..runs {
        let found = discover(&paths);
        assert_eq!(found.loaded().count(), 50);
    }
    let per_run = start.elapsed() / runs;
    // Reported only: the speed target is checked by benches/list.sh, not by a timed test.
    eprintln!("discovering 50 specs took {per_run:?} per run");
}
