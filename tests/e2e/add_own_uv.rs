//! `kernels add` on the venv backend when the user has no uv: kernels installs uv once into
//! its tool directory (in the sandbox HOME) with the base interpreter's real pip and uses it.
//! Proven with real venv, pip, uv, ipykernel and jupyter_client: the environment is a plain
//! venv with a working pip and a kernel that boots, the kernel.json is the one the pip path
//! writes; `kernels install` into a venv uses it too; the opt-outs use pip; a provision that
//! fails (an unreachable index in the base interpreter's pip config) falls back to pip and the
//! add succeeds; a failure or Ctrl-C leaves nothing behind.
//!
//! No uv is on the sandbox `PATH` (`/usr/bin:/bin`); the base interpreter is the one the test
//! Python's venv was made from. The pip and uv caches are the user's (warm).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::add::{base_python, fingerprint, make_executable, run_kernel, warm_caches};
use crate::common::{Run, Sandbox};
use crate::require_python;

/// A sandbox without uv, whose base Python has pip; `None` (the test skips) otherwise.
fn sandbox() -> Option<(Sandbox, PathBuf)> {
    let base = base_python()?;
    let has_pip = Command::new(&base)
        .args(["-m", "pip", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_pip {
        crate::common::skip(&format!(
            "the base interpreter {} has no pip",
            base.display()
        ));
        return None;
    }
    let mut sb = Sandbox::new();
    warm_caches(&mut sb);
    sb.set("PATH", "/usr/bin:/bin");
    sb.set("KERNELS_PYTHON", &base);
    Some((sb, base))
}

fn tools_dir(sb: &Sandbox) -> PathBuf {
    sb.home().join(".local/share/kernels/tools")
}

fn env_prefix(sb: &Sandbox, name: &str) -> PathBuf {
    sb.home().join(".local/share/kernels/envs").join(name)
}

/// The argv lists of the create step of an add document.
fn create_argvs(doc: &Value) -> Vec<Vec<String>> {
    doc["plan"]["kernels"][0]["steps"][0]["commands"]
        .as_array()
        .expect("create commands")
        .iter()
        .map(|c| {
            c["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

/// `kernels add NAME --backend venv --json EXTRA…`, asserting success; (document, stderr).
fn add(sb: &Sandbox, name: &str, extra: &[&str]) -> (Value, String) {
    let mut args = vec!["add", name, "--backend", "venv", "--json"];
    args.extend_from_slice(extra);
    let out: Run = sb.kernels(&args);
    out.ok();
    (out.json(), out.stderr)
}

/// The env's own pip works and the kernel boots and runs code.
fn assert_usable(sb: &Sandbox, name: &str) {
    let prefix = env_prefix(sb, name);
    let pip =
        crate::common::run(
            sb.command(prefix.join("bin/python"))
                .args(["-m", "pip", "--version"]),
        );
    pip.ok();
    assert!(
        pip.stdout.contains(prefix.to_str().unwrap()),
        "{}",
        pip.stdout
    );
    assert!(prefix.join("bin/pip").exists());
    let report = run_kernel(sb, name, "import sys; print(sys.prefix)", &[]);
    assert_eq!(report["status"], "ok", "{report:#}");
    assert_eq!(
        report["stdout"].as_str().unwrap().trim(),
        prefix.to_str().unwrap()
    );
}

/// kernel.json of `name`, with the name-dependent parts rewritten to `as_name`.
fn kernel_json_as(sb: &Sandbox, name: &str, as_name: &str) -> String {
    let text = std::fs::read_to_string(sb.user_kernels().join(name).join("kernel.json")).unwrap();
    text.replace(&format!("/envs/{name}"), &format!("/envs/{as_name}"))
        .replace(&format!("({name})"), &format!("({as_name})"))
        .replace(&format!("\"{name}\""), &format!("\"{as_name}\""))
}

#[test]
fn own_uv_makes_a_venv_with_pip_and_a_kernel_that_boots_and_the_opt_outs_use_pip() {
    require_python!();
    let Some((sb, _)) = sandbox() else { return };

    // 1. The first add provisions uv (one notice) and uses it.
    let (doc, stderr) = add(&sb, "own", &[]);
    assert!(stderr.contains("Installing uv into"), "{stderr}");
    let uv = tools_dir(&sb).join("uv/bin/uv");
    assert!(uv.is_file(), "uv provisioned into the sandbox tool dir");
    let argvs = create_argvs(&doc);
    let venv = argvs.iter().find(|a| a[1..3] == ["-m", "venv"]).unwrap();
    assert_eq!(venv[3], "--without-pip", "{argvs:?}");
    let install = argvs.last().unwrap();
    assert_eq!(install[0], uv.to_str().unwrap(), "{argvs:?}");
    assert!(install.contains(&"pip".to_owned()) && install.ends_with(&["ipykernel".into()]));
    let cfg = std::fs::read_to_string(env_prefix(&sb, "own").join("pyvenv.cfg")).unwrap();
    assert!(!cfg.contains("uv ="), "made by the venv module: {cfg}");
    assert_usable(&sb, "own");

    // 2. The next add uses the same uv without installing it again.
    let (_, stderr) = add(&sb, "own2", &[]);
    assert!(!stderr.contains("Installing uv"), "{stderr}");
    assert!(stderr.contains("kernels' own uv"), "{stderr}");

    // 3. The opt-outs: the variable (dry run) and the flag (a real add) use pip.
    let mut off = Sandbox::new();
    for (k, v) in sb.vars() {
        off.set(k, v);
    }
    off.set("KERNELS_NO_PROVISION_UV", "1");
    let out = off.kernels(&["add", "x", "--backend", "venv", "--dry-run", "--json"]);
    out.ok();
    let argvs = create_argvs(&out.json());
    assert_eq!(argvs[0][1..3], ["-m", "venv"]);
    assert_eq!(argvs[0].len(), 4, "ensurepip, not --without-pip: {argvs:?}");
    assert_eq!(argvs[1][1..4], ["-m", "pip", "install"], "{argvs:?}");
    let (doc, stderr) = add(&sb, "viapip", &["--no-provision-uv"]);
    assert!(
        !stderr.contains("Installing uv") && !stderr.contains("own uv"),
        "{stderr}"
    );
    let argvs = create_argvs(&doc);
    assert_eq!(argvs.len(), 2, "{argvs:?}");
    assert_eq!(argvs[1][1..4], ["-m", "pip", "install"], "{argvs:?}");
    assert_usable(&sb, "viapip");

    // 4. The kernel.json is the one the pip path writes (backend "venv").
    assert_eq!(
        kernel_json_as(&sb, "own", "k"),
        kernel_json_as(&sb, "viapip", "k")
    );
    let spec: Value = serde_json::from_str(&kernel_json_as(&sb, "own", "own")).unwrap();
    assert_eq!(spec["metadata"]["kernels"]["backend"], "venv");

    // 5. `kernels install` into a venv uses the same tool as add: the own uv, also for a
    //    venv that pip made, and the package is there for the env's interpreter.
    let out = sb.kernels(&["install", "viapip", "six", "--json"]);
    out.ok();
    let doc = out.json();
    let cmds = doc["plan"]["kernels"][0]["steps"][0]["commands"]
        .as_array()
        .expect("install commands");
    assert_eq!(cmds.len(), 1, "{doc:#}");
    assert_eq!(cmds[0]["argv"][0], uv.to_str().unwrap(), "{doc:#}");
    assert_eq!(cmds[0]["argv"][1], "pip", "{doc:#}");
    let six = crate::common::run(
        sb.command(env_prefix(&sb, "viapip").join("bin/python"))
            .args(["-c", "import six"]),
    );
    six.ok();

    // 6. A failing install with the own uv rolls the new env back; nothing is left.
    let out = sb.kernels(&[
        "add",
        "bad",
        "--backend",
        "venv",
        "--pip",
        "kernels-e2e-no-such-package-0xdead",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("rolled back"), "{}", out.stderr);
    assert!(!env_prefix(&sb, "bad").exists());
    assert!(!sb.user_kernels().join("bad").exists());
}

#[test]
fn a_provision_that_fails_falls_back_to_pip_and_the_add_succeeds() {
    require_python!();
    let Some((mut sb, base)) = sandbox() else {
        return;
    };
    // A base interpreter whose pip is configured (its site pip.conf) with an index that
    // cannot be reached: pip cannot fetch uv. The new env's own pip does not read that file.
    let based = sb.root().join("base");
    let made = Command::new(&base)
        .args(["-m", "venv"])
        .arg(&based)
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::write(
        based.join("pip.conf"),
        "[global]\nindex-url = http://127.0.0.1:9/simple\nretries = 0\ntimeout = 2\n",
    )
    .unwrap();
    sb.set("KERNELS_PYTHON", based.join("bin/python"));

    let (doc, stderr) = add(&sb, "fallback", &[]);
    assert!(stderr.contains("Installing uv into"), "{stderr}");
    assert!(stderr.contains("Could not install uv"), "{stderr}");
    assert!(stderr.contains("using pip"), "{stderr}");
    assert_eq!(doc["plan"]["kernels"][0]["steps"][0]["step"], "create_env");
    // Nothing of the failed provision is left: no uv, no staging, no empty tool dir.
    assert!(
        !tools_dir(&sb).exists(),
        "{:?}",
        std::fs::read_dir(tools_dir(&sb))
    );
    assert_usable(&sb, "fallback");
    let spec: Value = serde_json::from_str(&kernel_json_as(&sb, "fallback", "f")).unwrap();
    assert_eq!(spec["metadata"]["kernels"]["backend"], "venv");
}

#[test]
fn ctrl_c_while_provisioning_leaves_nothing_behind() {
    require_python!();
    let Some((mut sb, base)) = sandbox() else {
        return;
    };
    // Stand-in for a slow index (a real pip cannot be made slow here): the base Python is a
    // wrapper that, for the provisioning `pip install --target DIR uv`, starts filling DIR
    // and hangs; everything else goes to the real interpreter.
    let started = sb.root().join("provision-started");
    let wrapper = sb.root().join("slow/python3");
    std::fs::create_dir_all(wrapper.parent().unwrap()).unwrap();
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \"$*\" in *--target*)\n  for a; do [ \"$prev\" = --target ] && d=$a; prev=$a; done\n  mkdir -p \"$d/bin\" && : > \"$d/bin/partial\" && : > '{}'\n  sleep 60; exit 1;;\nesac\nexec '{}' \"$@\"\n",
            started.display(),
            base.display()
        ),
    )
    .unwrap();
    make_executable(&wrapper);
    sb.set("KERNELS_PYTHON", &wrapper);
    let envs_home = sb.home().join(".local/share/kernels/envs");
    let other = envs_home.join("other");
    std::fs::create_dir_all(other.join("bin")).unwrap();
    std::fs::write(other.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
    let kept = fingerprint(&other);

    let child = sb
        .command(crate::common::kernels_bin())
        .args(["add", "slow", "--backend", "venv"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !started.exists() {
        assert!(Instant::now() < deadline, "the provisioning never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let signalled = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(signalled.elapsed() < Duration::from_secs(10));
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        !stderr.contains("using pip"),
        "Ctrl-C is not a reason to fall back: {stderr}"
    );
    assert!(!tools_dir(&sb).exists(), "no partial uv, no staging dir");
    assert!(!envs_home.join("slow").exists());
    assert!(!sb.user_kernels().join("slow").exists());
    assert_eq!(fingerprint(&other), kept);
    assert!(Path::new(&other).exists());
}
