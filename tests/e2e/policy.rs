//! The protection policy end to end: its sources (`kernels policy`), `kernels protect` and
//! `--snapshot`, and refusals (exit 3, nothing changed on disk).
//!
//! Also the helpers the doctor, prune and reliability tests share: an isolated sandbox whose
//! "system" kernel dir is inside it, and a byte-exact listing of a directory tree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::{Run, Sandbox};

/// A sandbox whose Jupyter system dir is `<root>/sys/jupyter/kernels` (through
/// `JUPYTER_PLATFORM_DIRS` + `XDG_DATA_DIRS`), so the machine's own kernels stay out of view.
pub(super) fn isolated() -> Sandbox {
    let mut sb = Sandbox::new();
    let sys = sb.root().join("sys");
    std::fs::create_dir_all(&sys).expect("sys dir");
    // Where the run lock lives; made now so that taking it changes nothing [`tree`] shows.
    std::fs::create_dir_all(sb.home().join(".local/state")).expect("state dir");
    sb.set("JUPYTER_PLATFORM_DIRS", "1");
    sb.set("XDG_DATA_DIRS", &sys);
    sb
}

/// The sandbox's "system" kernel dir (lower priority than the user's).
pub(super) fn system_kernels(sb: &Sandbox) -> PathBuf {
    sb.root().join("sys/jupyter/kernels")
}

/// The sandbox's system policy file (`KERNELS_SYSTEM_POLICY`).
pub(super) fn system_policy(sb: &Sandbox) -> PathBuf {
    PathBuf::from(&sb.vars()["KERNELS_SYSTEM_POLICY"])
}

/// The sandbox user's policy file.
pub(super) fn user_policy(sb: &Sandbox) -> PathBuf {
    sb.home().join(".config/kernels/policy.json")
}

/// Every path under `dir` with its type, mode and (for files) contents: equal listings mean
/// nothing was created, removed, renamed or rewritten. The per-user run lock
/// (`~/.local/state/kernels/lock`, taken by every mutating command, refused or not) is
/// bookkeeping, not content, and is left out.
pub(super) fn tree(dir: &Path) -> BTreeMap<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap_or(&p).display().to_string();
            if rel.ends_with(".local/state") || rel.contains(".local/state/kernels") {
                continue;
            }
            let meta = match std::fs::symlink_metadata(&p) {
                Ok(m) => m,
                Err(_) => continue,
            };
            let mode = meta.permissions().mode();
            let what = if meta.file_type().is_symlink() {
                format!("link -> {:?}", std::fs::read_link(&p).ok())
            } else if meta.is_dir() {
                stack.push(p.clone());
                format!("dir {mode:o}")
            } else if meta.is_file() {
                let data = std::fs::read(&p).unwrap_or_default();
                format!("file {mode:o} {} {:x}", data.len(), fnv(&data))
            } else {
                format!("other {mode:o}")
            };
            out.insert(rel, what);
        }
    }
    out
}

fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// A kernel.json whose argv starts with `argv0` (and runs ipykernel).
pub(super) fn spec_for(argv0: &Path, display: &str) -> String {
    serde_json::json!({
        "argv": [argv0, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": display,
        "language": "python",
    })
    .to_string()
}

/// A kernel.json with this argv.
pub(super) fn spec_argv(argv: &[&str], display: &str) -> String {
    serde_json::json!({"argv": argv, "display_name": display, "language": "python"}).to_string()
}

/// Writes a policy file with mode 0644 (a trusted system file when we are its owner).
pub(super) fn write_policy(path: &Path, doc: &serde_json::Value) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().expect("parent")).expect("policy dir");
    std::fs::write(path, doc.to_string()).expect("policy file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
}

/// Asserts a refusal: exit 3, the message names the protected thing and its source, a hint.
pub(super) fn assert_refused(out: &Run, what: &str, source: &str) {
    assert_eq!(
        out.code, 3,
        "expected exit 3 (refused)\n--- stdout\n{}\n--- stderr\n{}",
        out.stdout, out.stderr
    );
    assert!(out.stderr.contains("refusing to"), "{}", out.stderr);
    assert!(out.stderr.contains(what), "no {what:?} in:\n{}", out.stderr);
    assert!(
        out.stderr.contains(source),
        "no {source:?} in:\n{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

/// A fake interpreter file at `<prefix>/bin/python` in a `pyvenv.cfg` prefix (enough for
/// static checks that only look at paths).
pub(super) fn fake_venv(prefix: &Path) -> PathBuf {
    std::fs::create_dir_all(prefix.join("bin")).expect("bin");
    std::fs::write(
        prefix.join("pyvenv.cfg"),
        "home = /usr/bin\nversion = 3.11.0\n",
    )
    .expect("cfg");
    let python = prefix.join("bin/python");
    std::fs::write(&python, "").expect("python");
    python
}

fn entries(doc: &serde_json::Value) -> Vec<(String, String, String, bool)> {
    doc["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_string(),
                e["value"].as_str().unwrap_or_default().to_string(),
                e["source"].as_str().unwrap_or_default().to_string(),
                e["required"].as_bool().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn policy_merges_builtin_system_and_user_sources() {
    let sb = isolated();
    write_policy(
        &system_policy(&sb),
        &serde_json::json!({"version": 1, "kernels": [{"name": "Admin-K", "required": true}],
                            "envs": [{"path": "/opt/shared/env"}]}),
    );
    write_policy(
        &user_policy(&sb),
        &serde_json::json!({"version": 1, "display_names": [{"name": "My Kernel"}]}),
    );
    let doc = sb.kernels(&["policy", "--json"]).ok().json();
    let e = entries(&doc);
    assert!(
        e.contains(&("kernel".into(), "admin-k".into(), "system".into(), true)),
        "{e:?}"
    );
    assert!(e.contains(&(
        "env_path".into(),
        "/opt/shared/env".into(),
        "system".into(),
        false
    )));
    assert!(e.contains(&(
        "display_name".into(),
        "My Kernel".into(),
        "user".into(),
        false
    )));
    assert!(e.contains(&(
        "kernel".into(),
        "python38-azureml".into(),
        "built-in".into(),
        false
    )));
    assert!(e.contains(&(
        "conda_base".into(),
        "base (any conda root)".into(),
        "built-in".into(),
        false
    )));
    let states: Vec<&str> = doc["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .map(|s| s["state"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(states, vec!["loaded", "loaded", "loaded"]);
    let text = sb.kernels(&["policy"]).ok().stdout.clone();
    assert!(
        text.contains("admin-k") && text.contains("MISSING"),
        "{text}"
    );
}

#[test]
fn a_system_file_others_can_write_is_ignored_and_doctor_fails() {
    use std::os::unix::fs::PermissionsExt;
    let sb = isolated();
    let path = system_policy(&sb);
    write_policy(
        &path,
        &serde_json::json!({"kernels": [{"name": "admin-k"}]}),
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let out = sb.kernels(&["policy", "--json"]);
    let doc = out.ok().json();
    assert_eq!(doc["sources"][1]["state"], "ignored");
    assert!(
        out.stderr.contains("writable by everyone"),
        "{}",
        out.stderr
    );
    assert!(!entries(&doc).iter().any(|e| e.1 == "admin-k"));
    let doctor = sb.kernels(&["doctor"]);
    assert_eq!(doctor.code, 4, "{}\n{}", doctor.stdout, doctor.stderr);
    assert!(
        doctor.stdout.contains("is not in force"),
        "{}",
        doctor.stdout
    );
}

#[test]
fn protect_records_required_entries_idempotently() {
    let sb = isolated();
    sb.write_spec(
        &sb.user_kernels(),
        "mine",
        &spec_argv(&["python3", "{connection_file}"], "Mine"),
    );
    let out = sb.kernels(&["protect", "MINE"]);
    out.ok();
    let file = user_policy(&sb);
    let first = std::fs::read(&file).expect("policy written");
    let doc: serde_json::Value = serde_json::from_slice(&first).expect("json");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["kernels"][0]["name"], "mine");
    assert_eq!(doc["kernels"][0]["required"], true);
    // Again: nothing changes, byte for byte.
    sb.kernels(&["protect", "mine"]).ok();
    assert_eq!(std::fs::read(&file).expect("policy"), first);
    // Dry run writes nothing.
    let before = tree(sb.root());
    let dry = sb
        .kernels(&["protect", "--snapshot", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(tree(sb.root()), before);
}

#[test]
fn protect_unknown_names_fail_with_the_closest_and_bad_names_are_usage_errors() {
    let sb = isolated();
    sb.write_spec(
        &sb.user_kernels(),
        "torch-gpu",
        &spec_argv(&["python3", "{connection_file}"], "T"),
    );
    let before = tree(sb.root());
    let out = sb.kernels(&["protect", "torch-gup"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("did you mean `torch-gpu`"),
        "{}",
        out.stderr
    );
    for bad in ["../x", "a/b", "a\u{1}b", "..", &"x".repeat(300)] {
        let out = sb.kernels(&["protect", bad]);
        assert_eq!(out.code, 2, "{bad:?}: {}", out.stderr);
    }
    let out = sb.kernels(&["protect", "/no/such/env"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(tree(sb.root()), before, "a failed protect changed files");
}

#[test]
fn protect_an_environment_by_path_and_doctor_requires_it() {
    let sb = isolated();
    let env = sb.root().join("envs/shared");
    fake_venv(&env);
    sb.kernels(&["protect", env.to_str().expect("utf8")]).ok();
    let doc = sb.kernels(&["policy", "--json"]).ok().json();
    assert!(entries(&doc).contains(&(
        "env_path".into(),
        env.display().to_string(),
        "user".into(),
        true
    )));
    assert_eq!(sb.kernels(&["doctor"]).code, 0);
    std::fs::remove_dir_all(&env).expect("rm env");
    let out = sb.kernels(&["doctor", "--json"]);
    assert_eq!(out.code, 4, "{}", out.stdout);
    let doc = out.json();
    let missing = doc["protected"]
        .as_array()
        .expect("protected")
        .iter()
        .find(|p| p["entry"]["target"]["value"] == env.display().to_string())
        .expect("entry reported");
    assert_eq!(missing["status"], "problem");
    assert_eq!(missing["present"], false);
}

#[test]
fn protect_system_writes_the_admin_file_and_refuses_when_it_cannot() {
    let sb = isolated();
    sb.write_spec(
        &system_kernels(&sb),
        "image-k",
        &spec_argv(&["python3", "{connection_file}"], "Image"),
    );
    sb.kernels(&["protect", "--system", "image-k"]).ok();
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(system_policy(&sb)).expect("system file"))
            .expect("json");
    assert_eq!(doc["kernels"][0]["name"], "image-k");
    let listed = sb.kernels(&["policy", "--json"]).ok().json();
    assert!(entries(&listed).contains(&("kernel".into(), "image-k".into(), "system".into(), true)));

    // Not writable: an immutable directory (root ignores modes, not the immutable flag).
    let locked = sb.root().join("locked");
    std::fs::create_dir_all(&locked).expect("dir");
    let Some(read_only) = crate::common::Immutable::make(&locked) else {
        return crate::common::skip(
            "the unwritable part: `chattr +i` is not available on this file system",
        );
    };
    let mut sb2 = isolated();
    sb2.set("KERNELS_SYSTEM_POLICY", locked.join("policy.json"));
    sb2.write_spec(
        &sb2.user_kernels(),
        "k",
        &spec_argv(&["python3", "{connection_file}"], "K"),
    );
    let out = sb2.kernels(&["protect", "--system", "k"]);
    drop(read_only);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot write the system policy"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
}

#[test]
fn protect_that_cannot_write_the_policy_file_fails_and_leaves_it_byte_identical() {
    let sb = isolated();
    for name in ["first", "second"] {
        sb.write_spec(
            &sb.user_kernels(),
            name,
            &spec_argv(&["python3", "{connection_file}"], name),
        );
    }
    sb.kernels(&["protect", "first"]).ok();
    let file = user_policy(&sb);
    let before = std::fs::read(&file).expect("policy written");
    // The dry run shows the write as a journaled step.
    let dry = sb
        .kernels(&["protect", "second", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(dry["steps"][0]["step"], "write_policy");
    assert_eq!(dry["steps"][0]["file"], file.display().to_string());
    // Not writable: an immutable directory (root ignores modes, not the immutable flag).
    let dir = file.parent().expect("policy dir").to_path_buf();
    let Some(read_only) = crate::common::Immutable::make(&dir) else {
        return crate::common::skip("`chattr +i` is not supported here");
    };
    let out = sb.kernels(&["protect", "second"]);
    drop(read_only);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("is as it was before this run"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(std::fs::read(&file).expect("policy"), before);
    assert!(
        !contains_file(sb.root(), "journal.json"),
        "the rolled-back run left its journal"
    );
    // The next run is not told about an unfinished one, and can write.
    let again = sb.kernels(&["protect", "second"]);
    again.ok();
    assert!(
        !again.stderr.contains("stopped before it finished"),
        "{}",
        again.stderr
    );
}

fn contains_file(dir: &Path, name: &str) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let p = e.path();
            e.file_name() == name || (p.is_dir() && !p.is_symlink() && contains_file(&p, name))
        })
}

#[test]
fn prune_never_removes_a_protected_kernel_and_says_why() {
    let sb = isolated();
    let gone = sb.root().join("deleted-env/bin/python");
    // Built-in protection (the image's kernel name), user protection, and an unprotected one.
    sb.write_spec(
        &system_kernels(&sb),
        "python38-azureml",
        &spec_for(&gone, "Python 3.8 - AzureML"),
    );
    sb.write_spec(&sb.user_kernels(), "mine", &spec_for(&gone, "Mine"));
    sb.write_spec(&sb.user_kernels(), "other", &spec_for(&gone, "Other"));
    sb.kernels(&["protect", "mine"]).ok();
    let out = sb.kernels(&["prune", "--json"]);
    let doc = out.ok().json();
    let removed: Vec<&str> = doc["removed"]
        .as_array()
        .expect("removed")
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(removed, vec!["other"]);
    let kept: BTreeMap<&str, &str> = doc["kept"]
        .as_array()
        .expect("kept")
        .iter()
        .map(|k| {
            (
                k["name"].as_str().unwrap_or_default(),
                k["reason"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        kept["python38-azureml"].contains("built-in defaults"),
        "{kept:?}"
    );
    assert!(kept["mine"].contains("user policy"), "{kept:?}");
    assert!(system_kernels(&sb)
        .join("python38-azureml/kernel.json")
        .is_file());
    assert!(sb.user_kernels().join("mine/kernel.json").is_file());
    assert!(!sb.user_kernels().join("other").exists());
}

#[test]
fn remove_is_refused_for_protected_kernels_and_nothing_changes() {
    let sb = isolated();
    sb.write_spec(
        &system_kernels(&sb),
        "python38-azureml",
        &spec_argv(&["python3", "{connection_file}"], "Python 3.8 - AzureML"),
    );
    sb.write_spec(
        &sb.user_kernels(),
        "renamed",
        &spec_argv(&["python3", "{connection_file}"], "Python 3.6 - AzureML"),
    );
    let before = tree(sb.root());
    let out = sb.kernels(&["remove", "Python38-AzureML"]);
    assert_refused(&out, "python38-azureml", "built-in defaults");
    let out = sb.kernels(&["remove", "renamed"]);
    assert_refused(&out, "Python 3.6 - AzureML", "built-in defaults");
    assert_eq!(tree(sb.root()), before, "a refused remove changed files");
}

#[test]
fn snapshot_then_remove_is_refused() {
    let sb = isolated();
    for name in ["a", "b"] {
        sb.write_spec(
            &sb.user_kernels(),
            name,
            &spec_argv(&["python3", "{connection_file}"], name),
        );
    }
    sb.write_spec(
        &system_kernels(&sb),
        "image",
        &spec_argv(&["python3", "{connection_file}"], "Image"),
    );
    let env = sb.root().join("envs/e");
    let python = fake_venv(&env);
    sb.write_spec(
        &sb.user_kernels(),
        "with-env",
        &spec_for(&python, "With env"),
    );
    let out = sb.kernels(&["protect", "--snapshot", "--json"]).ok().json();
    let values: Vec<&str> = out["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["value"].as_str().unwrap_or_default())
        .collect();
    for expected in ["a", "b", "image", "with-env", env.to_str().expect("utf8")] {
        assert!(values.contains(&expected), "{expected} not in {values:?}");
    }
    // Idempotent: a second snapshot writes nothing new.
    let again = sb.kernels(&["protect", "--snapshot", "--json"]).ok().json();
    assert_eq!(again["changed"], 0);
    let before = tree(sb.root());
    for name in ["a", "image"] {
        let out = sb.kernels(&["remove", name]);
        assert_refused(&out, name, "user policy");
    }
    assert_eq!(tree(sb.root()), before);
    // doctor now requires them: delete one behind the tool's back.
    std::fs::remove_dir_all(sb.user_kernels().join("b")).expect("rm");
    let out = sb.kernels(&["doctor"]);
    assert_eq!(out.code, 4, "{}", out.stdout);
    assert!(
        out.stdout.contains("kernel `b` is required"),
        "{}",
        out.stdout
    );
}

#[test]
fn kernels_inside_a_frozen_environment_are_never_pruned() {
    let mut sb = isolated();
    let env = sb.root().join("envs/frozen");
    fake_venv(&env);
    std::fs::create_dir_all(env.join("conda-meta")).expect("conda-meta");
    std::fs::write(
        env.join("conda-meta/frozen"),
        r#"{"message": "owned by the platform team"}"#,
    )
    .expect("frozen");
    let kernels_dir = env.join("share/jupyter/kernels");
    let gone = sb.root().join("nowhere/bin/python");
    sb.write_spec(&kernels_dir, "stale", &spec_for(&gone, "Stale"));
    sb.set("JUPYTER_PATH", env.join("share/jupyter"));
    let before = tree(sb.root());
    let doc = sb.kernels(&["prune", "--json"]).ok().json();
    assert_eq!(doc["removed"].as_array().map(Vec::len), Some(0), "{doc}");
    let reason = doc["kept"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("frozen") && reason.contains("owned by the platform team"),
        "{reason}"
    );
    assert_eq!(tree(sb.root()), before);
}

/// The prefix of the test interpreter's venv (it has ipykernel), for `add --existing`.
fn test_env() -> Option<PathBuf> {
    crate::common::test_python().and_then(|p| p.parent()?.parent().map(Path::to_path_buf))
}

#[test]
fn add_refuses_to_shadow_or_collide_with_a_protected_kernel_case_insensitively() {
    // Finding 2 of the peer review: the image's kernel lives in the system dir; a user kernel
    // named `Python38-AzureML` would take it over.
    let Some(env) = test_env() else {
        return crate::common::skip("KERNELS_TEST_PYTHON is not set (scripts/test.sh sets it)");
    };
    let env = env.to_str().expect("utf8");
    let sb = isolated();
    sb.write_spec(
        &system_kernels(&sb),
        "python38-azureml",
        &spec_argv(&["python3", "{connection_file}"], "Python 3.8 - AzureML"),
    );
    let before = tree(sb.root());
    let out = sb.kernels(&["add", "Python38-AzureML", "--existing", env]);
    assert_refused(
        &out,
        "would shadow the protected kernel",
        "built-in defaults",
    );
    // Its display name cannot be borrowed either.
    let out = sb.kernels(&[
        "add",
        "mine",
        "--existing",
        env,
        "--display-name",
        "Python 3.8 - AzureML",
    ]);
    assert_refused(
        &out,
        "display name of the protected kernel",
        "built-in defaults",
    );
    assert_eq!(tree(sb.root()), before, "a refused add changed files");

    // A kernel the user protected: re-registering it in place is refused too.
    sb.kernels(&["add", "mine", "--existing", env]).ok();
    sb.kernels(&["protect", "mine"]).ok();
    let before = tree(sb.root());
    let out = sb.kernels(&[
        "add",
        "MINE",
        "--existing",
        env,
        "--display-name",
        "Changed",
    ]);
    assert_refused(&out, "would replace the protected kernel", "user policy");
    assert_eq!(tree(sb.root()), before);
}

#[test]
fn add_warns_about_shadowing_and_duplicate_display_names_of_unprotected_kernels() {
    let Some(env) = test_env() else {
        return crate::common::skip("KERNELS_TEST_PYTHON is not set (scripts/test.sh sets it)");
    };
    let sb = isolated();
    sb.write_spec(
        &system_kernels(&sb),
        "shared",
        &spec_argv(&["python3", "{connection_file}"], "Shared"),
    );
    sb.write_spec(
        &system_kernels(&sb),
        "other",
        &spec_argv(&["python3", "{connection_file}"], "Twin"),
    );
    let out = sb.kernels(&[
        "add",
        "Shared",
        "--existing",
        env.to_str().expect("utf8"),
        "--display-name",
        "Twin",
    ]);
    out.ok();
    assert!(
        out.stderr.contains("will hide the kernel of the same name"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("also used by kernel `other`"),
        "{}",
        out.stderr
    );
    assert!(sb.user_kernels().join("shared/kernel.json").is_file());
}

#[test]
fn install_into_a_frozen_environment_is_refused_but_a_protected_one_is_allowed() {
    let sb = isolated();
    let env = sb.root().join("envs/frozen");
    let python = fake_venv(&env);
    std::fs::create_dir_all(env.join("conda-meta")).expect("conda-meta");
    std::fs::write(env.join("conda-meta/frozen"), "").expect("frozen");
    sb.write_spec(&sb.user_kernels(), "icy", &spec_for(&python, "Icy"));
    let before = tree(sb.root());
    let out = sb.kernels(&["install", "icy", "somepackage"]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("frozen"), "{}", out.stderr);
    assert_eq!(tree(sb.root()), before);
    // Protected but not frozen: the policy has no objection (a dry run shows the plan).
    let env2 = sb.root().join("envs/shared");
    let python2 = fake_venv(&env2);
    sb.write_spec(&sb.user_kernels(), "shared", &spec_for(&python2, "Shared"));
    sb.kernels(&["protect", env2.to_str().expect("utf8")]).ok();
    let out = sb.kernels(&["install", "shared", "somepackage", "--dry-run"]);
    assert_ne!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
}

#[test]
fn remove_with_env_refuses_a_protected_environment() {
    let sb = isolated();
    let env = sb.root().join("envs/made-by-kernels");
    let python = fake_venv(&env);
    let mut spec: serde_json::Value =
        serde_json::from_str(&spec_for(&python, "Made")).expect("json");
    spec["metadata"] = serde_json::json!({"kernels": {
        "managed": true, "env": env, "env_created": true, "backend": "venv",
        "activation": {"method": "computed", "vars": []}, "source": "add"}});
    sb.write_spec(&sb.user_kernels(), "made", &spec.to_string());
    write_policy(
        &system_policy(&sb),
        &serde_json::json!({"envs": [{"path": env, "reason": "shared by the team"}]}),
    );
    let before = tree(sb.root());
    let out = sb.kernels(&["remove", "made", "--with-env"]);
    assert_refused(&out, "refusing to remove environment", "system policy");
    assert!(out.stderr.contains("shared by the team"), "{}", out.stderr);
    assert_eq!(tree(sb.root()), before);
}
