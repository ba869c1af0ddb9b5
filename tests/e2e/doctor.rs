//! `kernels doctor` on real kernels: a healthy one, one whose environment was deleted, one
//! whose Python lacks ipykernel, one that hangs; each verdict is compared with what
//! jupyter_client (tests/support/run_kernel.py) says about starting the same kernel.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::policy::{fake_venv, isolated, spec_argv, spec_for, system_kernels, write_policy};
use crate::common::{test_python, Run, Sandbox};
use crate::require_python;

/// What jupyter_client says about starting `name`: `"ok"`, `"start-failed"`, ...
fn jupyter_verdict(sb: &Sandbox, name: &str, timeout: &str) -> (String, Value) {
    let python = test_python().expect("test python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/run_kernel.py");
    let out = crate::common::run(
        sb.command(python)
            .arg(script)
            .arg(name)
            .arg("print(1+1)")
            .arg("--timeout")
            .arg(timeout),
    );
    let doc: Value = serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "run_kernel.py gave no JSON ({e}):\n{}\n{}",
            out.stdout, out.stderr
        )
    });
    (doc["status"].as_str().unwrap_or_default().to_string(), doc)
}

fn doctor_json(sb: &Sandbox, args: &[&str]) -> (Run, Value) {
    let mut all = vec!["doctor", "--json"];
    all.extend_from_slice(args);
    let out = sb.kernels(&all);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let doc = out.json();
    (out, doc)
}

fn kernel<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["kernels"]
        .as_array()
        .expect("kernels")
        .iter()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("no kernel {name} in {doc}"))
}

/// `(status, message)` of each check named `check` of a kernel report.
fn checks<'a>(k: &'a Value, check: &str) -> Vec<(&'a str, &'a str)> {
    k["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["check"] == check)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default(),
                c["message"].as_str().unwrap_or_default(),
            )
        })
        .collect()
}

fn venv_without_pip(python: &Path, dir: &Path) -> PathBuf {
    let out = std::process::Command::new(python)
        .args(["-m", "venv", "--without-pip"])
        .arg(dir)
        .output()
        .expect("python -m venv");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("bin/python")
}

#[test]
fn healthy_venv_kernel_boots_and_jupyter_agrees() {
    let python = require_python!();
    let sb = isolated();
    sb.write_spec(&sb.user_kernels(), "healthy", &spec_for(&python, "Healthy"));
    let (out, doc) = doctor_json(&sb, &["--boot", "--timeout", "60"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(doc["ok"], true);
    let k = kernel(&doc, "healthy");
    assert_eq!(k["boot"]["outcome"], "ok", "{k}");
    assert_eq!(k["boot"]["language"], "python");
    assert!(k["boot"]["time_to_reply_ms"].as_u64().is_some());
    assert_eq!(checks(k, "ipykernel")[0].0, "ok");
    assert_eq!(checks(k, "env")[0].0, "ok");
    let (verdict, _) = jupyter_verdict(&sb, "healthy", "60");
    assert_eq!(verdict, "ok", "jupyter_client disagrees");
    // Human output: one block with ✓ lines and the summary.
    let text = sb.kernels(&["doctor", "healthy"]);
    assert_eq!(text.code, 0);
    assert!(
        text.stdout.contains("✓ kernel.json loads"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("1 kernel checked: 0 problems"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_deleted_environment_is_reported_and_jupyter_cannot_start_it_either() {
    let python = require_python!();
    let sb = isolated();
    let env = sb.root().join("envs/doomed");
    let env_python = venv_without_pip(&python, &env);
    sb.write_spec(
        &sb.user_kernels(),
        "doomed",
        &spec_for(&env_python, "Doomed"),
    );
    std::fs::remove_dir_all(&env).expect("delete env");
    let (out, doc) = doctor_json(&sb, &[]);
    assert_eq!(out.code, 4, "{}", out.stdout);
    let k = kernel(&doc, "doomed");
    let env_checks = checks(k, "env");
    assert_eq!(env_checks[0].0, "problem");
    assert!(env_checks[0].1.contains("does not exist"), "{env_checks:?}");
    let (verdict, _) = jupyter_verdict(&sb, "doomed", "20");
    assert_eq!(verdict, "start-failed");
    let text = sb.kernels(&["doctor"]);
    assert_eq!(text.code, 4);
    assert!(text.stdout.contains("✗ environment"), "{}", text.stdout);
}

#[test]
fn a_python_without_ipykernel_is_reported_with_the_import_error() {
    let python = require_python!();
    let sb = isolated();
    let env_python = venv_without_pip(&python, &sb.root().join("envs/bare"));
    sb.write_spec(&sb.user_kernels(), "bare", &spec_for(&env_python, "Bare"));
    let (out, doc) = doctor_json(&sb, &[]);
    assert_eq!(out.code, 4);
    assert_eq!(checks(kernel(&doc, "bare"), "ipykernel")[0].0, "problem");
    let (out, doc) = doctor_json(&sb, &["--boot", "--timeout", "30"]);
    assert_eq!(out.code, 4);
    let k = kernel(&doc, "bare");
    assert_eq!(k["boot"]["outcome"], "died", "{k}");
    let boot = checks(k, "boot");
    assert!(boot[0].1.contains("No module named ipykernel"), "{boot:?}");
    let (verdict, _) = jupyter_verdict(&sb, "bare", "30");
    assert_eq!(verdict, "start-failed");
}

#[test]
fn a_hanging_kernel_times_out_and_is_killed() {
    let python = require_python!();
    let sb = isolated();
    let py = python.to_str().expect("utf8");
    sb.write_spec(
        &sb.user_kernels(),
        "hangs",
        &spec_argv(
            &[
                py,
                "-c",
                "import time; time.sleep(600)",
                "{connection_file}",
            ],
            "Hangs",
        ),
    );
    let (out, doc) = doctor_json(&sb, &["--boot", "--timeout", "3"]);
    assert_eq!(out.code, 4);
    let k = kernel(&doc, "hangs");
    assert_eq!(k["boot"]["outcome"], "timeout", "{k}");
    assert!(
        checks(k, "boot")[0].1.contains("no reply within 3 s"),
        "{k}"
    );
    // Nothing is left running: the sleep was in the kernel's process group.
    let ps = std::process::Command::new("pgrep")
        .args(["-f", "time.sleep(600)"])
        .output();
    if let Ok(ps) = ps {
        let pids = String::from_utf8_lossy(&ps.stdout).trim().to_string();
        assert!(pids.is_empty(), "left running: {pids}");
    }
    let (verdict, _) = jupyter_verdict(&sb, "hangs", "3");
    assert_eq!(verdict, "start-failed");
}

#[test]
fn kernels_boot_concurrently() {
    let python = require_python!();
    let sb = isolated();
    for i in 0..3 {
        sb.write_spec(
            &sb.user_kernels(),
            &format!("k{i}"),
            &spec_for(&python, &format!("K{i}")),
        );
    }
    let (out, doc) = doctor_json(&sb, &["--boot"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let kernels = doc["kernels"].as_array().expect("kernels");
    assert_eq!(kernels.len(), 3);
    assert!(
        kernels.iter().all(|k| k["boot"]["outcome"] == "ok"),
        "{doc}"
    );
    // That the boots overlap is a matter of time, measured by benches/doctor.sh (all at once
    // against the slowest single boot), not asserted here.
}

#[test]
fn wrapped_kernels_whose_environment_is_gone_are_reported() {
    let sb = isolated();
    let gone = sb.root().join("envs/gone");
    let gone_s = gone.to_str().expect("utf8");
    let tool = sb.root().join("tools/bin");
    std::fs::create_dir_all(&tool).expect("tools");
    for t in ["conda", "envkernel"] {
        std::fs::write(tool.join(t), "").expect("tool");
    }
    let conda = tool.join("conda");
    let envkernel = tool.join("envkernel");
    let cases = [
        (
            "conda-run",
            vec![
                conda.to_str().expect("utf8"),
                "run",
                "-p",
                gone_s,
                "python",
                "-m",
                "ipykernel_launcher",
                "-f",
                "{connection_file}",
            ],
        ),
        (
            "envkernel",
            vec![
                envkernel.to_str().expect("utf8"),
                "virtualenv",
                "run",
                gone_s,
                "--",
                "python",
                "-m",
                "ipykernel_launcher",
                "-f",
                "{connection_file}",
            ],
        ),
        (
            "nb-conda",
            vec![
                "python",
                "-m",
                "nb_conda_kernels.runner",
                "/opt/conda",
                gone_s,
                "python",
                "-m",
                "ipykernel_launcher",
                "-f",
                "{connection_file}",
            ],
        ),
    ];
    let activate = format!(
        "source {gone_s}/bin/activate && exec python -m ipykernel_launcher -f {{connection_file}}"
    );
    for (name, argv) in &cases {
        sb.write_spec(&sb.user_kernels(), name, &spec_argv(argv, name));
    }
    sb.write_spec(
        &sb.user_kernels(),
        "kernda",
        &spec_argv(&["bash", "-c", &activate], "kernda"),
    );
    let (out, doc) = doctor_json(&sb, &[]);
    assert_eq!(out.code, 4);
    for name in ["conda-run", "envkernel", "nb-conda", "kernda"] {
        let env = checks(kernel(&doc, name), "env");
        assert_eq!(env.first().map(|c| c.0), Some("problem"), "{name}: {env:?}");
        assert!(env[0].1.contains(gone_s), "{name}: {env:?}");
    }
}

#[test]
fn protected_kernel_shadowed_by_a_user_kernel_is_a_problem() {
    // Finding 2: the image's kernel is system-wide; a user kernel of the same name (any case)
    // takes over.
    let sb = isolated();
    let env = sb.root().join("envs/image");
    let python = fake_venv(&env);
    sb.write_spec(
        &system_kernels(&sb),
        "python38-azureml",
        &spec_for(&python, "Python 3.8 - AzureML"),
    );
    let (out, _) = doctor_json(&sb, &[]);
    assert_eq!(out.code, 4, "a fake venv has no ipykernel: {}", out.stdout);
    sb.write_spec(
        &sb.user_kernels(),
        "Python38-AzureML",
        &spec_for(&python, "Mine"),
    );
    let (_, doc) = doctor_json(&sb, &[]);
    let entry = doc["protected"]
        .as_array()
        .expect("protected")
        .iter()
        .find(|p| p["entry"]["target"]["value"] == "python38-azureml")
        .expect("entry");
    assert_eq!(entry["status"], "problem");
    assert!(
        entry["message"]
            .as_str()
            .unwrap_or_default()
            .contains("is hidden by"),
        "{entry}"
    );
}

#[test]
fn required_entries_missing_fail_doctor_and_names_are_validated() {
    let sb = isolated();
    write_policy(
        &super::policy::system_policy(&sb),
        &serde_json::json!({"kernels": [{"name": "must-exist", "required": true}],
                            "envs": [{"name": "jupyter-env", "required": true}]}),
    );
    let (out, doc) = doctor_json(&sb, &[]);
    assert_eq!(out.code, 4);
    let problems: Vec<&str> = doc["protected"]
        .as_array()
        .expect("protected")
        .iter()
        .filter(|p| p["status"] == "problem")
        .map(|p| p["entry"]["target"]["value"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(problems, vec!["must-exist", "jupyter-env"]);
    let out = sb.kernels(&["doctor", "../x"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = sb.kernels(&["doctor", "nosuch"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let out = sb.kernels(&["doctor", "--boot", "--timeout", "0"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn activation_drift_is_a_warning_for_kernels_kernels_wrote() {
    let sb = isolated();
    let env = sb.root().join("envs/drifty");
    let python = fake_venv(&env);
    let mut spec: Value = serde_json::from_str(&spec_for(&python, "Drifty")).expect("json");
    // What `kernels add` records (metadata.kernels), with nothing baked into env.
    spec["metadata"] = serde_json::json!({"kernels": {
        "managed": true, "env": env, "env_created": false, "backend": "existing",
        "activation": {"method": "computed", "vars": ["STALE_VAR"]}, "source": "add"}});
    spec["env"] = serde_json::json!({"STALE_VAR": "x", "USER_OWN": "kept"});
    sb.write_spec(&sb.user_kernels(), "drifty", &spec.to_string());
    let drift = |sb: &Sandbox| -> Value {
        let (out, doc) = doctor_json(sb, &["drifty"]);
        assert_ne!(out.code, 2, "{}", out.stderr);
        kernel(&doc, "drifty")["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["check"] == "drift")
            .cloned()
            .expect("a drift check")
    };
    let d = drift(&sb);
    assert_eq!(d["status"], "warning", "{d}");
    let details = d["details"].to_string();
    assert!(
        details.contains("PATH") && details.contains("VIRTUAL_ENV"),
        "{details}"
    );
    assert!(
        details.contains("STALE_VAR: baked into kernel.json, no longer set"),
        "{details}"
    );
    assert!(
        !details.contains("USER_OWN"),
        "the user's own variable is not drift: {details}"
    );
    // A new conda env var appears in the environment: reported by name.
    std::fs::create_dir_all(env.join("etc/conda/env_vars.d")).expect("env_vars.d");
    std::fs::write(
        env.join("etc/conda/env_vars.d/x.json"),
        r#"{"NEW_SETTING": "on"}"#,
    )
    .expect("vars");
    let details = drift(&sb)["details"].to_string();
    assert!(details.contains("NEW_SETTING"), "{details}");
}
