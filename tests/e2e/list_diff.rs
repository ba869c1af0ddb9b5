//! Differential tests: on generated layouts, `kernels list --json` must report exactly the
//! kernelspecs (names, resource dirs, specs with Jupyter's defaults filled in) that the real
//! `jupyter kernelspec list --json` reports, and must report every spec Jupyter silently drops
//! in its own `broken` list.
//!
//! The reference Jupyter runs from the test venv, so its `sys.prefix` is that venv and its env
//! dir (`<venv>/share/jupyter/kernels`, where ipykernel's wheel puts `python3`) is searched.
//! `kernels` is told the same prefix through `KERNELS_JUPYTER_PREFIX`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{test_python, Sandbox};

const GOOD: &str = r#"{"argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
 "display_name": "Good", "language": "python"}"#;

fn good(display: &str) -> String {
    GOOD.replace("\"Good\"", &format!("{display:?}"))
}

/// A sandbox whose Jupyter prefix is the test venv; `None` (with a printed reason) without one.
fn sandbox() -> Option<Sandbox> {
    let python = test_python().or_else(|| {
        crate::common::skip("KERNELS_TEST_PYTHON is not set (scripts/test.sh sets it)");
        None
    })?;
    let prefix = venv_prefix(&python);
    let mut sb = Sandbox::new();
    sb.set("KERNELS_JUPYTER_PREFIX", &prefix);
    Some(sb)
}

fn venv_prefix(python: &Path) -> PathBuf {
    let out = std::process::Command::new(python)
        .args(["-c", "import sys; print(sys.prefix)"])
        .output()
        .expect("python runs");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Runs both listings and compares them; returns our document for further checks.
fn compare(sb: &Sandbox) -> Value {
    let theirs = sb
        .jupyter(&["kernelspec", "list", "--json"])
        .expect("test python");
    assert_eq!(theirs.code, 0, "jupyter failed: {}", theirs.stderr);
    let theirs = theirs.json();
    let ours_run = sb.kernels(&["list", "--json"]);
    assert_eq!(ours_run.code, 0, "kernels list failed: {}", ours_run.stderr);
    let ours = ours_run.json();

    let their_specs = theirs["kernelspecs"]
        .as_object()
        .expect("jupyter kernelspecs");
    let our_specs = ours["kernelspecs"].as_object().expect("our kernelspecs");
    let their_names: Vec<&String> = their_specs.keys().collect();
    let mut our_names: Vec<&String> = our_specs.keys().collect();
    let mut sorted_theirs = their_names.clone();
    sorted_theirs.sort();
    our_names.sort();
    assert_eq!(our_names, sorted_theirs, "kernel names differ");
    for (name, entry) in their_specs {
        let mine = &our_specs[name];
        assert_eq!(
            mine["resource_dir"], entry["resource_dir"],
            "resource_dir of {name} differs"
        );
        assert_eq!(mine["spec"], entry["spec"], "spec of {name} differs");
    }
    ours
}

fn broken_names(doc: &Value) -> BTreeMap<String, String> {
    doc["broken"]
        .as_array()
        .expect("`broken` list")
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap_or_default().to_string(),
                b["error"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn layout_01_user_dir_only() {
    let Some(sb) = sandbox() else { return };
    for (n, d) in [("alpha", "Alpha"), ("beta", "Beta β"), ("gamma", "Gamma")] {
        sb.write_spec(&sb.user_kernels(), n, &good(d));
    }
    compare(&sb);
}

#[test]
fn layout_02_jupyter_path_entries_shadow_user_dir() {
    let Some(mut sb) = sandbox() else { return };
    let a = sb.root().join("jp-a");
    let b = sb.root().join("jp-b");
    sb.write_spec(&a.join("kernels"), "dup", &good("from a"));
    sb.write_spec(&b.join("kernels"), "dup", &good("from b"));
    sb.write_spec(&b.join("kernels"), "only-b", &good("only b"));
    sb.write_spec(&sb.user_kernels(), "dup", &good("from user"));
    sb.write_spec(&sb.user_kernels(), "python3", &good("user python3"));
    sb.set("JUPYTER_PATH", format!("{}:{}", a.display(), b.display()));
    let doc = compare(&sb);
    assert_eq!(doc["kernelspecs"]["dup"]["spec"]["display_name"], "from a");
}

#[test]
fn layout_03_trailing_slashes_empty_and_missing_entries() {
    let Some(mut sb) = sandbox() else { return };
    let a = sb.root().join("jp-a");
    sb.write_spec(&a.join("kernels"), "k1", &good("k1"));
    // A relative `kernels` dir (from the empty entry) next to the cwd, which is the sandbox root.
    sb.write_spec(&sb.root().join("kernels"), "relative", &good("relative"));
    let missing = sb.root().join("does-not-exist");
    sb.set(
        "JUPYTER_PATH",
        format!(":{}/::{}", a.display(), missing.display()),
    );
    compare(&sb);
}

#[test]
fn layout_04_jupyter_data_dir() {
    let Some(mut sb) = sandbox() else { return };
    let data = sb.root().join("data-dir");
    sb.write_spec(&data.join("kernels"), "in-data-dir", &good("data dir"));
    sb.write_spec(&sb.user_kernels(), "ignored-default", &good("default"));
    sb.set("JUPYTER_DATA_DIR", &data);
    compare(&sb);
}

#[test]
fn layout_05_xdg_data_home() {
    let Some(mut sb) = sandbox() else { return };
    let xdg = sb.root().join("xdg");
    sb.write_spec(&xdg.join("jupyter/kernels"), "xdg-kernel", &good("xdg"));
    sb.set("XDG_DATA_HOME", &xdg);
    compare(&sb);
}

#[test]
fn layout_06_env_dir_first_inside_a_venv() {
    let Some(sb) = sandbox() else { return };
    // The venv's own python3 (from ipykernel's wheel) wins over a user python3.
    sb.write_spec(&sb.user_kernels(), "python3", &good("user python3"));
    let doc = compare(&sb);
    assert_ne!(
        doc["kernelspecs"]["python3"]["spec"]["display_name"],
        "user python3"
    );
}

#[test]
fn layout_07_prefer_env_path_false_puts_user_first() {
    let Some(mut sb) = sandbox() else { return };
    sb.write_spec(&sb.user_kernels(), "python3", &good("user python3"));
    sb.set("JUPYTER_PREFER_ENV_PATH", "0");
    let doc = compare(&sb);
    assert_eq!(
        doc["kernelspecs"]["python3"]["spec"]["display_name"],
        "user python3"
    );
}

#[test]
fn layout_08_prefer_env_path_empty_counts_as_true() {
    let Some(mut sb) = sandbox() else { return };
    sb.write_spec(&sb.user_kernels(), "python3", &good("user python3"));
    sb.set("JUPYTER_PREFER_ENV_PATH", "");
    compare(&sb);
}

#[test]
fn layout_09_invalid_and_upper_case_names_and_non_kernel_entries() {
    let Some(sb) = sandbox() else { return };
    let k = sb.user_kernels();
    sb.write_spec(&k, "MixedCase", &good("mixed"));
    sb.write_spec(&k, "bad name", &good("bad name"));
    sb.write_spec(&k, ".hidden", &good("hidden"));
    std::fs::create_dir_all(k.join("no-kernel-json")).expect("dir");
    std::fs::write(k.join("plain-file"), "x").expect("file");
    let doc = compare(&sb);
    assert!(doc["kernelspecs"].get("mixedcase").is_some());
}

#[test]
fn layout_10_broken_specs_are_reported_not_hidden() {
    let Some(mut sb) = sandbox() else { return };
    let k = sb.user_kernels();
    let first = sb.root().join("first");
    sb.write_spec(&k, "bom", &format!("\u{feff}{GOOD}"));
    sb.write_spec(&k, "trailing", &format!("{GOOD} trailing"));
    sb.write_spec(&k, "array", "[1, 2]");
    sb.write_spec(
        &k,
        "display-null",
        r#"{"argv": ["x"], "display_name": null}"#,
    );
    sb.write_spec(
        &k,
        "bad-interrupt",
        r#"{"argv": ["x"], "display_name": "x", "interrupt_mode": "sometimes"}"#,
    );
    sb.write_spec(
        &k,
        "numeric-protocol",
        r#"{"argv": ["x"], "display_name": "x", "kernel_protocol_version": 5.3}"#,
    );
    sb.write_spec(
        &k,
        "metadata-list",
        r#"{"argv": ["x"], "display_name": "x", "metadata": []}"#,
    );
    // A broken copy still shadows a good one later in the path.
    sb.write_spec(&first.join("kernels"), "shadowing-broken", "{not json");
    sb.write_spec(&k, "shadowing-broken", &good("good but shadowed"));
    sb.set("JUPYTER_PATH", &first);
    let doc = compare(&sb);
    let broken = broken_names(&doc);
    for name in [
        "bom",
        "trailing",
        "array",
        "display-null",
        "bad-interrupt",
        "numeric-protocol",
        "metadata-list",
        "shadowing-broken",
    ] {
        assert!(
            broken.contains_key(name),
            "{name} not in broken: {broken:?}"
        );
        assert!(!broken[name].is_empty(), "{name} has no reason");
    }
}

#[test]
fn layout_11_lenient_fields_normalised_like_jupyter() {
    let Some(sb) = sandbox() else { return };
    let k = sb.user_kernels();
    sb.write_spec(
        &k,
        "message-mode",
        r#"{"argv": ["x", "{connection_file}"], "display_name": "m", "language": "python", "interrupt_mode": "MESSAGE"}"#,
    );
    sb.write_spec(
        &k,
        "argv-string",
        r#"{"argv": "python3 {connection_file}", "display_name": "s", "language": "python"}"#,
    );
    sb.write_spec(
        &k,
        "unknown-keys",
        r#"{"argv": ["x"], "display_name": "u", "language": "python", "foo": 1, "env": {"A": "1"}, "metadata": {"debugger": true}, "kernel_protocol_version": "5.5"}"#,
    );
    sb.write_spec(
        &k,
        "duplicate-keys",
        r#"{"argv": ["x"], "display_name": "first", "display_name": "second"}"#,
    );
    sb.write_spec(&k, "minimal", r#"{"argv": ["x"]}"#);
    compare(&sb);
}

#[cfg(unix)]
#[test]
fn layout_12_symlinked_spec_dirs() {
    let Some(sb) = sandbox() else { return };
    let real = sb.root().join("elsewhere");
    let target = sb.write_spec(&real, "real-kernel", &good("linked"));
    std::fs::create_dir_all(sb.user_kernels()).expect("dir");
    std::os::unix::fs::symlink(&target, sb.user_kernels().join("linked")).expect("symlink");
    std::os::unix::fs::symlink(
        sb.root().join("nowhere"),
        sb.user_kernels().join("dangling"),
    )
    .expect("symlink");
    let doc = compare(&sb);
    assert!(doc["kernelspecs"].get("linked").is_some());
}

#[test]
fn layout_13_two_hundred_kernels() {
    let Some(mut sb) = sandbox() else { return };
    let jp = sb.root().join("many");
    for i in 0..200 {
        let dir = if i % 2 == 0 {
            sb.user_kernels()
        } else {
            jp.join("kernels")
        };
        sb.write_spec(&dir, &format!("k{i:03}"), &good(&format!("Kernel {i}")));
    }
    sb.set("JUPYTER_PATH", &jp);
    let doc = compare(&sb);
    assert!(doc["kernelspecs"].as_object().map_or(0, |m| m.len()) >= 200);
}

#[test]
fn layout_14_ipython_dir_is_searched_last() {
    let Some(sb) = sandbox() else { return };
    let ipy = sb.home().join(".ipython/kernels");
    sb.write_spec(&ipy, "legacy", &good("legacy"));
    sb.write_spec(&ipy, "shadowed-legacy", &good("ipython copy"));
    sb.write_spec(&sb.user_kernels(), "shadowed-legacy", &good("user copy"));
    let doc = compare(&sb);
    assert_eq!(
        doc["kernelspecs"]["shadowed-legacy"]["spec"]["display_name"],
        "user copy"
    );
}
