//! `kernels envs`: environments from disk (no conda process), and the kernels using them.

use std::path::Path;
use std::time::Instant;

use serde_json::Value;

use super::add::{add_json, fake_registered_venv, make_executable};
use crate::common::Sandbox;

/// A conda root with `n` environments (`e0`…), each with python and ipykernel records, whose
/// `bin/conda` leaves a marker if anyone runs it.
pub fn fake_conda_root(sb: &Sandbox, root: &Path, n: usize) -> std::path::PathBuf {
    let meta = |p: &Path, pkgs: &[&str]| {
        std::fs::create_dir_all(p.join("conda-meta")).unwrap();
        std::fs::write(p.join("conda-meta/history"), "").unwrap();
        for pkg in pkgs {
            std::fs::write(p.join("conda-meta").join(format!("{pkg}-h0.json")), "{}").unwrap();
        }
    };
    meta(root, &["python-3.11.7", "conda-26.7.1"]);
    std::fs::create_dir_all(root.join("condabin")).unwrap();
    for i in 0..n {
        meta(
            &root.join(format!("envs/e{i}")),
            &["python-3.12.1", "ipykernel-6.29.5", "pip-24.0"],
        );
    }
    let marker = sb.root().join("conda-was-run");
    let exe = root.join("bin/conda");
    std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
    std::fs::write(
        &exe,
        format!("#!/bin/sh\n: > '{}'\nexit 1\n", marker.display()),
    )
    .unwrap();
    make_executable(&exe);
    marker
}

#[test]
fn lists_thirty_conda_envs_and_their_kernels_without_running_conda() {
    let mut sb = Sandbox::new();
    let root = sb.root().join("conda");
    let marker = fake_conda_root(&sb, &root, 30);
    sb.set("KERNELS_CONDA", root.join("bin/conda"));
    // Two kernels on e3: one by argv only, one with our metadata; one on a venv that only a
    // kernel knows about.
    let py3 = root.join("envs/e3/bin/python");
    sb.write_spec(
        &sb.user_kernels(),
        "by-argv",
        &serde_json::json!({"argv": [py3, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                            "display_name": "A", "language": "python"})
        .to_string(),
    );
    sb.write_spec(
        &sb.user_kernels(),
        "by-meta",
        &serde_json::json!({"argv": ["python"], "display_name": "B", "language": "python",
            "metadata": {"kernels": {"managed": true, "env": root.join("envs/e3"),
              "env_created": true, "backend": "conda",
              "activation": {"method": "computed", "vars": []}, "source": "add"}}})
        .to_string(),
    );
    let venv = sb.root().join("elsewhere/proj");
    fake_registered_venv(&venv);
    add_json(&sb, &["proj", "--existing", venv.to_str().unwrap()]);

    let started = Instant::now();
    let out = sb.kernels(&["envs", "--json"]);
    let took = started.elapsed();
    out.ok();
    let doc: Value = out.json();
    let envs = doc["environments"].as_array().unwrap();
    assert_eq!(envs.len(), 32, "base + 30 + the venv: {doc:#}");
    assert_eq!(envs[0]["kind"], "conda-base");
    let e3 = envs.iter().find(|e| e["name"] == "e3").unwrap();
    assert_eq!(e3["python_version"], "3.12.1");
    assert_eq!(e3["ipykernel"], true);
    assert_eq!(e3["kernels"], serde_json::json!(["by-argv", "by-meta"]));
    assert_eq!(e3["created_by_kernels"], true);
    let proj = envs
        .iter()
        .find(|e| e["prefix"] == venv.to_str().unwrap())
        .unwrap();
    assert_eq!(proj["kind"], "venv");
    assert_eq!(proj["kernels"], serde_json::json!(["proj"]));
    assert!(!marker.exists(), "conda was run");
    eprintln!("kernels envs over 32 environments took {took:?}");
    // Speed is the benchmarks' business (benches/add.sh has the targets); here it is only
    // reported.

    let out = sb.kernels(&["envs"]);
    out.ok();
    let first = out.stdout.lines().next().unwrap();
    assert!(first.starts_with("NAME"), "{}", out.stdout);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("e3 ") && l.contains("by-argv,by-meta")),
        "{}",
        out.stdout
    );
}
