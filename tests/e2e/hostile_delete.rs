//! A hostile or careless user against deletion: `remove --with-env` must never delete a
//! protected environment or one `kernels` did not create, concurrent runs on one prefix must
//! not delete each other's work, and a failed remove leaves the kernelspec where it was.
//!
//! Every test here is named `hostile_*` (the reliability suite's "hostile user" group).

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use super::policy::{fake_venv, isolated, spec_for, tree};
use crate::common::{have, kernels_bin, run, Run, Sandbox};

/// A kernel.json that says `kernels` made the environment at `env` (as a user could write).
fn claiming_spec(python: &Path, env: &Path) -> String {
    let mut spec: serde_json::Value =
        serde_json::from_str(&spec_for(python, "Claims")).expect("json");
    spec["metadata"] = serde_json::json!({"kernels": {
        "managed": true, "env": env, "env_created": true, "backend": "uv",
        "activation": {"method": "computed", "vars": []}, "source": "add"}});
    spec.to_string()
}

/// The marker `kernels` leaves in environments it creates, forged.
fn forge_marker(prefix: &Path) {
    std::fs::write(
        prefix.join(".kernels-env.json"),
        r#"{"created_by": "kernels", "backend": "uv"}"#,
    )
    .expect("marker");
}

/// A conda-looking environment (enough for the static checks).
fn fake_conda_env(prefix: &Path) {
    std::fs::create_dir_all(prefix.join("conda-meta")).expect("conda-meta");
    std::fs::write(prefix.join("conda-meta/history"), "").expect("history");
    std::fs::create_dir_all(prefix.join("bin")).expect("bin");
    std::fs::write(prefix.join("bin/python"), "").expect("python");
}

/// A sandbox whose PATH has the test interpreter's bin (uv, python).
fn with_tools() -> Option<Sandbox> {
    let mut sb = isolated();
    let bin = crate::common::test_bin_dir()?;
    sb.prepend_path(&bin);
    sb.set("KERNELS_PYTHON", crate::common::test_python()?);
    Some(sb)
}

fn assert_code(out: &Run, code: i32) {
    assert_eq!(
        out.code, code,
        "expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
        out.stdout, out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[test]
fn hostile_with_env_through_dotdot_never_reaches_a_protected_env() {
    let sb = isolated();
    let envs = sb.home().join("miniconda3/envs");
    let protected = envs.join("azureml_py38");
    fake_conda_env(&protected);
    forge_marker(&protected);
    std::fs::create_dir_all(envs.join("x")).expect("x");
    let sneaky = envs.join("x/../azureml_py38");
    sb.write_spec(
        &sb.user_kernels(),
        "dd",
        &claiming_spec(&protected.join("bin/python"), &sneaky),
    );
    let before = tree(sb.root());
    let out = sb.kernels(&["remove", "dd", "--with-env", "--yes"]);
    assert_code(&out, 3);
    assert!(
        out.stderr.contains("refusing to remove environment"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("azureml_py38"), "{}", out.stderr);
    assert_eq!(tree(sb.root()), before, "something was changed");
}

#[test]
fn hostile_with_env_refuses_a_prefix_with_a_protected_env_inside() {
    crate::require_python!();
    let Some(sb) = with_tools() else { return };
    let bs = sb.root().join("bs");
    let p = bs.to_str().expect("utf8");
    sb.kernels(&["add", "bs", "--backend", "venv", "--prefix", p])
        .ok();
    // A protected environment under it, in a root kernels does not know as one.
    let inside = bs.join("envs/azureml_py38");
    fake_conda_env(&inside);
    let before = tree(sb.root());
    let out = sb.kernels(&["remove", "bs", "--with-env", "--yes"]);
    assert_code(&out, 3);
    assert!(out.stderr.contains("lies inside it"), "{}", out.stderr);
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
    assert_eq!(tree(sb.root()), before, "something was changed");
    assert!(inside.join("conda-meta/history").is_file());
    // The same env without anything inside goes (the check is not a blanket refusal).
    std::fs::remove_dir_all(bs.join("envs")).expect("rm envs");
    let dry = sb.kernels(&["remove", "bs", "--with-env", "--dry-run", "--json"]);
    let doc = dry.ok().json();
    let steps = doc["steps"].as_array().expect("steps");
    assert_eq!(steps[0]["step"], "remove_kernel", "{doc}");
    assert_eq!(steps[1]["step"], "delete_env", "{doc}");
    assert_eq!(steps[1]["target"], p, "{doc}");
    sb.kernels(&["remove", "bs", "--with-env", "--yes"]).ok();
    assert!(!bs.exists());
}

#[test]
fn hostile_with_env_does_not_trust_a_kernel_json_or_a_forged_marker() {
    let sb = isolated();
    let env = sb.root().join("claimed");
    let python = fake_venv(&env);
    forge_marker(&env);
    sb.write_spec(&sb.user_kernels(), "claims", &claiming_spec(&python, &env));
    let before = tree(sb.root());
    let out = sb.kernels(&["remove", "claims", "--with-env", "--yes"]);
    assert_code(&out, 1);
    assert!(
        out.stderr.contains("not created by kernels"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("no record"), "{}", out.stderr);
    assert_eq!(tree(sb.root()), before, "something was changed");
}

#[test]
fn hostile_with_env_does_not_delete_an_env_remade_by_hand_at_the_old_path() {
    let python = crate::require_python!();
    let Some(sb) = with_tools() else { return };
    let env = sb.root().join("old");
    let p = env.to_str().expect("utf8");
    sb.kernels(&["add", "x", "--backend", "venv", "--prefix", p])
        .ok();
    let spec = std::fs::read_to_string(sb.user_kernels().join("x/kernel.json")).expect("spec");
    let marker = std::fs::read(env.join(".kernels-env.json")).expect("marker");
    sb.kernels(&["remove", "x", "--with-env", "--yes"]).ok();
    assert!(!env.exists());

    // Re-made by hand, marker and kernel.json put back.
    let made = std::process::Command::new(&python)
        .args(["-m", "venv", "--without-pip"])
        .arg(&env)
        .status()
        .expect("venv");
    assert!(made.success());
    std::fs::write(env.join(".kernels-env.json"), marker).expect("marker");
    sb.write_spec(&sb.user_kernels(), "x", &spec);
    let before = tree(sb.root());
    let out = sb.kernels(&["remove", "x", "--with-env", "--yes"]);
    assert_code(&out, 1);
    assert!(
        out.stderr.contains("not created by kernels"),
        "{}",
        out.stderr
    );
    assert_eq!(tree(sb.root()), before, "something was changed");
}

#[test]
fn hostile_a_copy_registered_with_existing_is_not_created_by_kernels() {
    crate::require_python!();
    let Some(sb) = with_tools() else { return };
    let a = sb.root().join("a");
    let b = sb.root().join("b");
    sb.kernels(&[
        "add",
        "a",
        "--backend",
        "venv",
        "--prefix",
        a.to_str().expect("utf8"),
    ])
    .ok();
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(&a)
        .arg(&b)
        .status()
        .expect("cp");
    assert!(copied.success());
    assert!(
        b.join(".kernels-env.json").is_file(),
        "the copy has the marker"
    );
    sb.kernels(&["add", "b", "--existing", b.to_str().expect("utf8")])
        .ok();
    let doc = sb.kernels(&["show", "b", "--json"]).json();
    assert_eq!(
        doc["spec"]["metadata"]["kernels"]["env_created"], false,
        "{doc}"
    );
    let out = sb.kernels(&["remove", "b", "--with-env", "--yes"]);
    assert_code(&out, 1);
    assert!(b.join("bin/python").exists());
    // The original is still ours, and only it goes.
    sb.kernels(&["remove", "a", "--with-env", "--yes"]).ok();
    assert!(!a.exists());
    assert!(b.join("bin/python").exists());
}

/// Names and sizes of the entries of a directory (to see that nothing was installed in it).
fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                    (e.file_name().to_string_lossy().into_owned(), len)
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn hostile_concurrent_adds_on_one_prefix_never_delete_each_others_env() {
    let python = crate::require_python!();
    let Some(sb) = with_tools() else { return };
    let prefix = sb.root().join("shared/env");
    let p = prefix.to_str().expect("utf8").to_owned();
    let base_site: Vec<PathBuf> = std::fs::read_dir(
        python
            .parent()
            .and_then(Path::parent)
            .expect("venv root")
            .join("lib"),
    )
    .expect("lib")
    .flatten()
    .map(|e| e.path().join("site-packages"))
    .collect();
    let base_before: Vec<_> = base_site.iter().map(|d| listing(d)).collect();

    // Four "users": each its own HOME (so its own run lock); one prefix.
    let children: Vec<_> = (0..4)
        .map(|i| {
            let home = sb.root().join(format!("user{i}"));
            std::fs::create_dir_all(&home).expect("home");
            let mut cmd = sb.command(kernels_bin());
            cmd.env("HOME", &home)
                .args(["add", &format!("k{i}"), "--backend", "venv", "--prefix", &p])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            (home, cmd.spawn().expect("spawn"))
        })
        .collect();
    let mut ok = Vec::new();
    for (home, child) in children {
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let code = out.status.code().unwrap_or(-1);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(matches!(code, 0 | 1 | 5), "exit {code}: {stderr}");
        if code == 0 {
            ok.push(home);
        } else {
            assert!(stderr.contains("hint:"), "{stderr}");
        }
    }
    assert!(!ok.is_empty(), "no run succeeded");
    // The environment is whole, and each run that succeeded registered a kernel on it.
    let check = std::process::Command::new(prefix.join("bin/python"))
        .args(["-c", "import sys, ipykernel; print(sys.prefix)"])
        .output()
        .expect("env python");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    for home in &ok {
        let kdir = home.join(".local/share/jupyter/kernels");
        assert_eq!(std::fs::read_dir(&kdir).expect("kernels dir").count(), 1);
    }
    // Nothing went into the base interpreter.
    let base_after: Vec<_> = base_site.iter().map(|d| listing(d)).collect();
    assert_eq!(base_before, base_after, "the base interpreter was changed");
    // No lock file is left beside the prefix.
    let leftovers: Vec<_> = std::fs::read_dir(sb.root().join("shared"))
        .expect("shared")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["env"], "{leftovers:?}");
}

/// A throwaway Unix account with its home in `dir` (deleted however the test ends).
struct User {
    name: String,
    uid: u32,
    gid: u32,
    home: PathBuf,
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = std::process::Command::new("userdel")
            .args(["-f", &self.name])
            .output();
    }
}

/// A second user, when this runs as root with useradd; `None` (the test skips) otherwise.
fn second_user(sb: &Sandbox, tag: &str) -> Option<User> {
    if !kernelspec::running_as_root() || !have("useradd") || !have("userdel") {
        crate::common::skip("needs root and useradd/userdel to create a throwaway user");
        return None;
    }
    use std::os::unix::fs::PermissionsExt;
    // The user must be able to reach its home inside the sandbox.
    std::fs::set_permissions(sb.root(), std::fs::Permissions::from_mode(0o755)).ok()?;
    let name = format!("kh{tag}{}", std::process::id() % 100_000);
    let home = sb.root().join(format!("home-{name}"));
    let made = std::process::Command::new("useradd")
        .args(["-M", "-s", "/bin/sh", "-d"])
        .arg(&home)
        .arg(&name)
        .output()
        .ok()?;
    assert!(
        made.status.success(),
        "useradd: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let entry: Vec<String> = passwd
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))?
        .split(':')
        .map(String::from)
        .collect();
    let user = User {
        name,
        uid: entry[2].parse().ok()?,
        gid: entry[3].parse().ok()?,
        home,
    };
    std::fs::create_dir_all(&user.home).ok()?;
    chown(&user.home, user.uid, user.gid);
    Some(user)
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).expect("chown");
}

/// Runs `kernels ARGS` as `user`, with its HOME.
fn as_user(sb: &Sandbox, user: &User, args: &[&str]) -> Run {
    let mut cmd = sb.command(kernels_bin());
    cmd.env("HOME", &user.home)
        .env_remove("XDG_STATE_HOME")
        .uid(user.uid)
        .gid(user.gid)
        .args(args);
    run(&mut cmd)
}

/// Every entry of `dir` with owner, mode and contents.
fn snapshot(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walkdir_sorted(dir) {
        let m = std::fs::symlink_metadata(&e).expect("meta");
        let text = if m.is_file() {
            std::fs::read_to_string(&e).unwrap_or_default()
        } else {
            String::new()
        };
        out.push(format!("{} {} {:o} {text}", e.display(), m.uid(), m.mode()));
    }
    out
}

fn walkdir_sorted(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut children: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        children.sort();
        for c in children {
            if c.is_dir() && !c.is_symlink() {
                out.extend(walkdir_sorted(&c));
            } else {
                out.push(c);
            }
        }
    }
    out
}

#[test]
fn hostile_failed_remove_or_prune_leaves_a_root_owned_kernelspec_where_it_was() {
    let sb = isolated();
    let Some(user) = second_user(&sb, "r") else {
        return;
    };
    // The user's own kernels dir, with a kernelspec root put there.
    let kernels = user.home.join(".local/share/jupyter/kernels");
    for d in [
        ".local",
        ".local/share",
        ".local/share/jupyter",
        ".local/share/jupyter/kernels",
    ] {
        let p = user.home.join(d);
        std::fs::create_dir_all(&p).expect("dir");
        chown(&p, user.uid, user.gid);
    }
    let spec = sb.write_spec(
        &kernels,
        "rootspec",
        &super::policy::spec_argv(
            &["/nonexistent/bin/python", "-f", "{connection_file}"],
            "Root's",
        ),
    );
    assert_eq!(std::fs::metadata(&spec).expect("spec").uid(), 0);
    let before = snapshot(&kernels);

    let out = as_user(&sb, &user, &["remove", "rootspec", "--yes"]);
    assert_code(&out, 1);
    assert!(out.stderr.contains("permission denied"), "{}", out.stderr);
    assert_eq!(
        snapshot(&kernels),
        before,
        "the kernelspec was moved or changed"
    );

    // prune sees it as stale (its interpreter is gone) and fails the same clean way.
    let out = as_user(&sb, &user, &["prune", "--yes"]);
    assert_code(&out, 1);
    assert_eq!(
        snapshot(&kernels),
        before,
        "the kernelspec was moved or changed"
    );
    let listed = as_user(&sb, &user, &["list", "--json"]);
    assert!(listed.stdout.contains("rootspec"), "{}", listed.stdout);
}

#[test]
fn hostile_root_never_deletes_on_a_marker_a_user_owns() {
    let sb = isolated();
    let Some(user) = second_user(&sb, "m") else {
        return;
    };
    // An environment that root's own records name (as if root had made it), whose marker
    // now belongs to the user: the user could have rewritten it.
    let env = sb.root().join("handed");
    let python = fake_venv(&env);
    forge_marker(&env);
    chown(&env.join(".kernels-env.json"), user.uid, user.gid);
    let canonical = std::fs::canonicalize(&env).expect("canonical");
    let meta = std::fs::metadata(&canonical).expect("meta");
    let state = sb.home().join(".local/state/kernels");
    std::fs::create_dir_all(&state).expect("state");
    let records = state.join("created-envs.json");
    std::fs::write(
        &records,
        serde_json::json!({"version": 1, "envs": {canonical.to_str().expect("utf8"):
            {"dev": meta.dev(), "ino": meta.ino(), "backend": "uv"}}})
        .to_string(),
    )
    .expect("records");
    sb.write_spec(&sb.user_kernels(), "handed", &claiming_spec(&python, &env));
    let before = tree(sb.root());
    let out = sb.kernels(&["remove", "handed", "--with-env", "--yes"]);
    assert_code(&out, 1);
    assert!(
        out.stderr.contains("belongs to another user"),
        "{}",
        out.stderr
    );
    assert_eq!(tree(sb.root()), before, "something was changed");
    // With root's own marker it is root's to delete.
    chown(&env.join(".kernels-env.json"), 0, 0);
    sb.kernels(&["remove", "handed", "--with-env", "--yes"])
        .ok();
    assert!(!env.exists());
}

#[test]
fn hostile_another_users_run_waits_on_the_prefix_lock_and_touches_nothing() {
    let Some(mut sb) = with_tools() else {
        crate::common::skip("KERNELS_TEST_PYTHON is not set");
        return;
    };
    let Some(user) = second_user(&sb, "l") else {
        return;
    };
    use std::os::unix::fs::PermissionsExt;
    // A directory both may create in (sticky, like /tmp); root is busy creating `env` in it.
    let shared = sb.root().join("shared");
    std::fs::create_dir_all(&shared).expect("shared");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let prefix = shared.join("env");
    let held = kernels::prefix_lock::PrefixLock::acquire(
        &prefix,
        std::time::Duration::from_secs(5),
        &envs::CancelToken::new(),
    )
    .expect("root takes the prefix lock");
    let lock_file = kernels::prefix_lock::PrefixLock::path_for(&prefix);
    assert_eq!(std::fs::metadata(&lock_file).expect("lock").uid(), 0);

    sb.set("KERNELS_LOCK_TIMEOUT", "1");
    let p = prefix.to_str().expect("utf8");
    let out = as_user(
        &sb,
        &user,
        &["add", "k", "--backend", "venv", "--prefix", p],
    );
    assert_code(&out, 5);
    assert!(
        out.stderr.contains("another kernels run is working on"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
    assert!(!prefix.exists(), "the waiting run created something");
    drop(held);
    assert!(!lock_file.exists(), "the lock file outlived its holder");
}
