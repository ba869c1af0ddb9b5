//! `kernels install NAME PKG...`: packages into the environment behind a kernel. Tool calls
//! are counted through the conda stand-in's logging wrapper (see `add_conda.rs`); the pip/uv
//! path against a real venv is in `add.rs` (`venv_with_uv_end_to_end`).

use serde_json::Value;

use super::add::{add_json, fingerprint};
use super::add_conda::CondaBox;
use crate::common::Sandbox;

#[test]
fn installs_into_the_kernels_conda_env_once_and_only_what_is_missing() {
    let cb = CondaBox::standin(None);
    let sb = &cb.sb;
    add_json(sb, &["c1", "-p", "numpy"]);
    cb.take_calls();
    let p = cb.env("c1").display().to_string();
    let kernel_json = sb.user_kernels().join("c1/kernel.json");
    let before = std::fs::read(&kernel_json).unwrap();

    let out = sb.kernels(&["install", "c1", "pandas", "--dry-run"]);
    out.ok();
    assert!(
        out.stdout
            .contains(&format!("/bin/conda install -p {p} --json --yes pandas")),
        "{}",
        out.stdout
    );
    assert!(cb.take_calls().is_empty());

    let out = sb.kernels(&["install", "C1", "pandas", "numpy", "-c", "conda-forge"]);
    out.ok();
    assert_eq!(
        cb.take_calls(),
        [format!(
            "conda install -p {p} --json --yes -c conda-forge pandas"
        )]
    );
    assert!(out.stderr.contains("Installed"), "{}", out.stderr);
    // Nothing about the kernel changed, so its kernel.json was not rewritten.
    assert_eq!(std::fs::read(&kernel_json).unwrap(), before);

    let out = sb.kernels(&["install", "c1", "pandas"]);
    out.ok();
    assert!(out.stderr.contains("Nothing to install"), "{}", out.stderr);
    assert!(cb.take_calls().is_empty());

    // A version constraint always reaches the installer, which decides.
    let out = sb.kernels(&["install", "c1", "pandas>=2", "--json"]);
    out.ok();
    let doc = out.json();
    assert_eq!(
        doc["plan"]["kernels"][0]["steps"][0]["conda"][0],
        "pandas>=2"
    );
    assert_eq!(cb.take_calls().len(), 1);
}

#[test]
fn frozen_envs_are_refused_with_exit_3_and_no_tool_call() {
    let cb = CondaBox::standin(None);
    let sb = &cb.sb;
    add_json(sb, &["c1"]);
    cb.take_calls();
    std::fs::write(
        cb.env("c1").join("conda-meta/frozen"),
        r#"{"message": "image environment"}"#,
    )
    .unwrap();
    let kept = fingerprint(&cb.env("c1"));
    let out = sb.kernels(&["install", "c1", "scipy"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("frozen"), "{}", out.stderr);
    assert!(out.stderr.contains("image environment"), "{}", out.stderr);
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
    assert!(cb.take_calls().is_empty());
    assert_eq!(fingerprint(&cb.env("c1")), kept);
}

#[test]
fn an_externally_managed_python_is_refused_with_exit_3() {
    let sb = Sandbox::new();
    let prefix = sb.root().join("system");
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    std::fs::write(prefix.join("bin/python"), "").unwrap();
    std::fs::create_dir_all(prefix.join("lib/python3.11/site-packages/ipykernel")).unwrap();
    std::fs::write(
        prefix.join("lib/python3.11/EXTERNALLY-MANAGED"),
        "[externally-managed]\nError=use apt\n",
    )
    .unwrap();
    let argv = serde_json::json!([
        prefix.join("bin/python"),
        "-m",
        "ipykernel_launcher",
        "-f",
        "{connection_file}"
    ]);
    sb.write_spec(
        &sb.user_kernels(),
        "syspy",
        &serde_json::json!({"argv": argv, "display_name": "System", "language": "python"})
            .to_string(),
    );
    let out = sb.kernels(&["install", "syspy", "six"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("externally managed"), "{}", out.stderr);
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
}

#[test]
fn unknown_kernels_and_unknown_environments_fail_clearly() {
    let sb = Sandbox::new();
    sb.write_spec(
        &sb.user_kernels(),
        "bare",
        r#"{"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Bare", "language": "python"}"#,
    );
    let out = sb.kernels(&["install", "bar", "six"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("no kernel named"), "{}", out.stderr);
    assert!(out.stderr.contains("did you mean `bare`"), "{}", out.stderr);
    let out = sb.kernels(&["install", "bare", "six"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot tell which environment"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_protected_kernel_gets_packages_but_its_kernel_json_is_left_alone() {
    let cb = CondaBox::standin(None);
    let sb = &cb.sb;
    add_json(sb, &["c1"]);
    let out = sb.kernels(&["protect", "c1"]);
    out.ok();
    cb.take_calls();
    // Drift that `install` would otherwise repair: an activation script appears.
    let scripts = cb.env("c1").join("etc/conda/activate.d");
    std::fs::create_dir_all(&scripts).unwrap();
    std::fs::write(scripts.join("x.sh"), "export FROM_SCRIPT=1\n").unwrap();
    let kernel_json = sb.user_kernels().join("c1/kernel.json");
    let before = std::fs::read(&kernel_json).unwrap();
    let out = sb.kernels(&["install", "c1", "pandas", "--json"]);
    out.ok();
    let doc: Value = out.json();
    let steps = doc["plan"]["kernels"][0]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{doc:#}");
    assert_eq!(steps[0]["step"], "install_packages");
    assert_eq!(cb.take_calls().len(), 1);
    assert_eq!(std::fs::read(&kernel_json).unwrap(), before);
}
