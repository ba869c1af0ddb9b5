//! `kernels add` end to end on the venv backend, with real uv, pip, ipykernel and
//! jupyter_client: the kernel Jupyter lists, starts, runs code in and interrupts is the one
//! `add` registered; a satisfied re-run starts no process at all; failures and Ctrl-C leave
//! nothing behind and nothing that existed before is touched.
//!
//! How "no installer ran" is proven: the uv and base-Python executables `kernels` is given
//! (`KERNELS_UV`, `KERNELS_PYTHON`) are wrappers that append every call to a log; the
//! environment gets a `.pth` file that appends a line whenever any Python process starts in
//! it (checked to fire when the kernel later starts: the recorder works); and, where `strace`
//! works, the re-run is traced and must exec nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::common::{skip, test_bin_dir, test_python, Run, Sandbox};
use crate::require_python;

/// The interpreter the test Python's venv was made from (a version manager's shim would not
/// work under the sandbox HOME).
pub fn base_python() -> Option<PathBuf> {
    let out = Command::new(test_python()?)
        .args(["-c", "import sys; print(sys._base_executable)"])
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    p.exists().then_some(p)
}

/// A shell wrapper at `dir/name` that appends `name ARGS` to `log` and execs `real`.
pub fn recorder(dir: &Path, name: &str, real: &Path, log: &Path, env: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"{name} $*\" >> '{}'\n{env}exec '{}' \"$@\"\n",
        log.display(),
        real.display()
    );
    std::fs::write(&path, script).unwrap();
    make_executable(&path);
    path
}

/// chmod 755.
pub fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The lines of a log file (none when it does not exist).
pub fn log_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Every file and directory under `dir` with its size and modification time, to prove a
/// tree was not touched.
pub fn fingerprint(dir: &Path) -> BTreeMap<PathBuf, (u64, SystemTime)> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, (u64, SystemTime)>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            out.insert(p.clone(), (m.len(), m.modified().unwrap()));
            if m.is_dir() {
                walk(&p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &mut out);
    assert!(
        !out.is_empty(),
        "nothing to fingerprint at {}",
        dir.display()
    );
    out
}

/// Warm package caches: the user's real uv/pip caches (only speed depends on them).
pub fn warm_caches(sb: &mut Sandbox) {
    let home = std::env::var("HOME").unwrap_or_default();
    let uv = std::env::var("UV_CACHE_DIR").unwrap_or_else(|_| format!("{home}/.cache/uv"));
    let pip = std::env::var("PIP_CACHE_DIR").unwrap_or_else(|_| format!("{home}/.cache/pip"));
    sb.set("UV_CACHE_DIR", uv).set("PIP_CACHE_DIR", pip);
}

/// Runs tests/support/run_kernel.py: starts `kernel` with the real jupyter_client, runs
/// `code`, returns its JSON report.
pub fn run_kernel(sb: &Sandbox, kernel: &str, code: &str, extra: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/run_kernel.py");
    let out = crate::common::run(
        sb.command(test_python().expect("test python"))
            .arg(script)
            .arg(kernel)
            .arg(code)
            .args(extra),
    );
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "run_kernel.py gave no JSON ({e}):\n{}\n{}",
            out.stdout, out.stderr
        )
    })
}

/// The programs `kernels ARGS` execs, traced with strace; `None` when strace is missing or
/// not permitted here.
pub fn traced_execs(sb: &Sandbox, args: &[&str]) -> Option<(Run, Vec<String>)> {
    let trace = sb.root().join("strace.out");
    let probe = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=execve", "-o"])
        .arg(&trace)
        .arg("true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    if !probe.success() {
        return None;
    }
    let run = crate::common::run(
        sb.command("strace")
            .args(["-f", "-qq", "-e", "trace=execve", "-o"])
            .arg(&trace)
            .arg(crate::common::kernels_bin())
            .args(args),
    );
    let execs = std::fs::read_to_string(&trace)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("execve(") && !l.contains("ENOENT"))
        .filter_map(|l| l.split('"').nth(1).map(str::to_owned))
        .collect();
    Some((run, execs))
}

/// `kernels add ... --json`, asserting success; returns the JSON document.
pub fn add_json(sb: &Sandbox, args: &[&str]) -> Value {
    let mut all = vec!["add"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = sb.kernels(&all);
    out.ok();
    out.json()
}

/// The status and executed step kinds of the first kernel of an add document.
pub fn status_and_steps(doc: &Value) -> (String, Vec<String>) {
    let status = doc["plan"]["kernels"][0]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let steps = doc["outcome"]["executed"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| s["step"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    (status, steps)
}

/// A sandbox for the venv backend: the base Python and uv behind recording wrappers.
struct VenvBox {
    sb: Sandbox,
    uv_log: PathBuf,
    py_log: PathBuf,
    pth_log: PathBuf,
    uv: bool,
}

impl VenvBox {
    fn new(uv: bool) -> Option<VenvBox> {
        let bin = test_bin_dir()?;
        let base = base_python()?;
        let mut sb = Sandbox::new();
        warm_caches(&mut sb);
        let wrappers = sb.root().join("wrappers");
        let uv_log = sb.root().join("uv.log");
        let py_log = sb.root().join("python.log");
        let pth_log = sb.root().join("pth.log");
        let py = recorder(&wrappers, "python3", &base, &py_log, "");
        sb.set("KERNELS_PYTHON", &py);
        if uv {
            let real_uv = bin.join("uv");
            if !real_uv.exists() {
                skip("no uv next to KERNELS_TEST_PYTHON (scripts/test.sh installs it)");
                return None;
            }
            let w = recorder(&wrappers, "uv", &real_uv, &uv_log, "");
            sb.set("KERNELS_UV", &w);
        } else {
            sb.set("KERNELS_NO_UV", "1");
        }
        Some(VenvBox {
            sb,
            uv_log,
            py_log,
            pth_log,
            uv,
        })
    }

    fn venv_home(&self) -> PathBuf {
        self.sb.home().join(".local/share/kernels/envs")
    }

    fn clear_logs(&self) {
        for l in [&self.uv_log, &self.py_log, &self.pth_log] {
            let _ = std::fs::remove_file(l);
        }
    }

    /// A `.pth` file in the environment that records every Python start in it.
    fn plant_python_recorder(&self, prefix: &Path) {
        let sp = std::fs::read_dir(prefix.join("lib"))
            .unwrap()
            .flatten()
            .map(|e| e.path().join("site-packages"))
            .find(|p| p.is_dir())
            .expect("site-packages");
        std::fs::write(
            sp.join("zz_kernels_e2e_recorder.pth"),
            format!(
                "import os; open({:?}, 'a').write('python %d started\\n' % os.getpid())\n",
                self.pth_log.display().to_string()
            ),
        )
        .unwrap();
    }
}

/// The shared venv suite: add, Jupyter lists it, activate.d convergence, a re-run that
/// starts nothing, code runs activated, interrupts work; then an unknown package fails
/// cleanly twice (new env: removed; existing env: untouched).
fn venv_suite(vb: &VenvBox, name: &str) {
    let sb = &vb.sb;
    let prefix = vb.venv_home().join(name);

    // 1. First add: the environment and the kernel.
    let doc = add_json(sb, &[name, "--backend", "venv"]);
    let (status, steps) = status_and_steps(&doc);
    assert_eq!(status, "create", "{doc:#}");
    assert_eq!(steps, ["create_env", "write_kernel"], "{doc:#}");
    let create = &doc["plan"]["kernels"][0]["steps"][0];
    assert_eq!(create["step"], "create_env");
    assert_eq!(create["uv"], vb.uv);
    if vb.uv {
        let calls = log_lines(&vb.uv_log);
        assert_eq!(
            calls.len(),
            2,
            "one `uv venv`, one `uv pip install`: {calls:?}"
        );
        assert!(calls[0].starts_with("uv venv --python "), "{calls:?}");
        assert!(
            calls[1].starts_with("uv pip install --python "),
            "{calls:?}"
        );
        assert!(calls[1].ends_with(" ipykernel"), "{calls:?}");
    } else {
        assert!(log_lines(&vb.uv_log).is_empty());
        let calls = log_lines(&vb.py_log);
        assert_eq!(calls.len(), 1, "one `python -m venv`: {calls:?}");
        assert!(calls[0].starts_with("python3 -m venv "), "{calls:?}");
        let argv: Vec<&str> = create["commands"][1]["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            argv[1..],
            ["-m", "pip", "install", "--no-input", "ipykernel"],
            "{argv:?}"
        );
    }
    let python = prefix.join("bin/python");
    assert!(python.exists());

    // 2. The real jupyter_client lists it, with our kernel.json and ipykernel's logos.
    let list = sb.jupyter(&["kernelspec", "list", "--json"]).unwrap();
    list.ok();
    let entry = &list.json()["kernelspecs"][name];
    assert_eq!(
        entry["resource_dir"].as_str().unwrap(),
        sb.user_kernels().join(name).to_str().unwrap()
    );
    assert_eq!(entry["spec"]["argv"][0], python.to_str().unwrap());
    assert_eq!(entry["spec"]["display_name"], format!("Python ({name})"));
    assert_eq!(entry["spec"]["metadata"]["kernels"]["managed"], true);
    assert_eq!(entry["spec"]["metadata"]["kernels"]["env_created"], true);
    assert_eq!(
        entry["spec"]["metadata"]["kernels"]["backend"],
        if vb.uv { "uv" } else { "venv" }
    );
    for logo in ["logo-32x32.png", "logo-64x64.png", "logo-svg.svg"] {
        assert!(sb.user_kernels().join(name).join(logo).is_file(), "{logo}");
    }

    // 3. An activate.d script appears in the env: a re-run converges (kernel.json
    //    rewritten), and runs no installer and no Python.
    let script_dir = prefix.join("etc/conda/activate.d");
    std::fs::create_dir_all(&script_dir).unwrap();
    std::fs::write(
        script_dir.join("e2e.sh"),
        "export E2E_ACTIVATED='from activate.d'\n",
    )
    .unwrap();
    vb.plant_python_recorder(&prefix);
    vb.clear_logs();
    let doc = add_json(sb, &[name, "--backend", "venv"]);
    let (status, steps) = status_and_steps(&doc);
    assert_eq!(status, "update", "{doc:#}");
    assert_eq!(steps, ["write_kernel"], "{doc:#}");
    let kernel_json = sb.user_kernels().join(name).join("kernel.json");
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&kernel_json).unwrap()).unwrap();
    assert_eq!(written["env"]["E2E_ACTIVATED"], "from activate.d");
    assert_eq!(
        written["metadata"]["kernels"]["activation"]["method"],
        "scripts"
    );
    assert!(
        log_lines(&vb.uv_log).is_empty(),
        "{:?}",
        log_lines(&vb.uv_log)
    );
    assert!(
        log_lines(&vb.py_log).is_empty(),
        "{:?}",
        log_lines(&vb.py_log)
    );
    assert!(
        log_lines(&vb.pth_log).is_empty(),
        "{:?}",
        log_lines(&vb.pth_log)
    );

    // 4. Identical re-run: unchanged, zero steps, no process but the activate.d shell.
    let before = std::fs::read(&kernel_json).unwrap();
    let started = Instant::now();
    let doc = add_json(sb, &[name, "--backend", "venv"]);
    let took = started.elapsed();
    let (status, steps) = status_and_steps(&doc);
    assert_eq!(status, "unchanged", "{doc:#}");
    assert!(steps.is_empty(), "{doc:#}");
    assert_eq!(doc["plan"]["kernels"][0]["steps"], Value::Array(vec![]));
    assert_eq!(std::fs::read(&kernel_json).unwrap(), before);
    assert!(log_lines(&vb.uv_log).is_empty());
    assert!(log_lines(&vb.py_log).is_empty());
    assert!(log_lines(&vb.pth_log).is_empty());
    eprintln!("satisfied re-run (with an activate.d script) took {took:?}");
    // Speed is the benchmarks' business (benches/add.sh has the targets); here it is only
    // reported.
    if let Some((run, execs)) = traced_execs(sb, &["add", name, "--backend", "venv"]) {
        run.ok();
        let others: Vec<&String> = execs
            .iter()
            .filter(|p| !p.ends_with("/kernels") && !p.ends_with("/bash") && !p.ends_with("/env"))
            .collect();
        assert!(others.is_empty(), "the re-run started {others:?}");
    } else {
        eprintln!(
            "note: strace is unavailable; the wrapper logs and the .pth recorder are the proof"
        );
    }
    // Without the script, a re-run starts no process at all.
    std::fs::remove_file(script_dir.join("e2e.sh")).unwrap();
    add_json(sb, &[name, "--backend", "venv"]);
    if let Some((run, execs)) = traced_execs(sb, &["add", name, "--backend", "venv"]) {
        run.ok();
        assert!(run.stderr.contains("up to date"), "{}", run.stderr);
        let others: Vec<&String> = execs.iter().filter(|p| !p.ends_with("/kernels")).collect();
        assert!(others.is_empty(), "the re-run started {others:?}");
    }
    std::fs::write(
        script_dir.join("e2e.sh"),
        "export E2E_ACTIVATED='from activate.d'\n",
    )
    .unwrap();
    add_json(sb, &[name, "--backend", "venv"]);

    // 5. jupyter_client starts it: the env's interpreter, the env's bin first on PATH,
    //    VIRTUAL_ENV, and the activate.d variable.
    let code = "import json, os, sys; print(json.dumps({'exe': sys.executable, \
                'path0': os.environ['PATH'].split(os.pathsep)[0], \
                'venv': os.environ.get('VIRTUAL_ENV'), \
                'script': os.environ.get('E2E_ACTIVATED')}))";
    let report = run_kernel(sb, name, code, &[]);
    assert_eq!(report["status"], "ok", "{report:#}");
    let seen: Value = serde_json::from_str(report["stdout"].as_str().unwrap().trim()).unwrap();
    assert_eq!(seen["exe"], python.to_str().unwrap());
    assert_eq!(seen["path0"], prefix.join("bin").to_str().unwrap());
    assert_eq!(seen["venv"], prefix.to_str().unwrap());
    assert_eq!(seen["script"], "from activate.d");
    assert!(
        !log_lines(&vb.pth_log).is_empty(),
        "the .pth recorder never fired, so its silence above proved nothing"
    );

    // 6. SIGINT reaches the kernel: time.sleep(60) ends with KeyboardInterrupt in seconds.
    let report = run_kernel(
        sb,
        name,
        "import time; time.sleep(60)",
        &["--interrupt-after", "1"],
    );
    // The 60 s sleep ended in KeyboardInterrupt: the interrupt arrived (how fast is
    // benches/add.sh's business, not a test's).
    assert_eq!(report["ename"], "KeyboardInterrupt", "{report:#}");

    // 7. An unknown package: the new env is removed, no kernel is left, and the env above
    //    is untouched.
    let kept = fingerprint(&prefix);
    let kept_kernel = std::fs::read(&kernel_json).unwrap();
    vb.clear_logs();
    let bad = format!("{name}-bad");
    let out = sb.kernels(&[
        "add",
        &bad,
        "--backend",
        "venv",
        "--pip",
        "kernels-e2e-no-such-package-0xdead",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("kernels-e2e-no-such-package-0xdead"),
        "the tool's own message is shown: {}",
        out.stderr
    );
    assert!(out.stderr.contains("rolled back"), "{}", out.stderr);
    assert!(!vb.venv_home().join(&bad).exists());
    assert!(!sb.user_kernels().join(&bad).exists());
    assert_eq!(fingerprint(&prefix), kept);
    assert_eq!(std::fs::read(&kernel_json).unwrap(), kept_kernel);

    // 8. The same package into the existing env (`kernels install`): it fails, the env and
    //    its kernel stay, and since the installer found nothing to install, the message says
    //    the environment is unchanged (not that "whatever it put in stays").
    let out = sb.kernels(&["install", name, "kernels-e2e-no-such-package-0xdead"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("unchanged:"), "{}", out.stderr);
    assert!(!out.stderr.contains("kept:"), "{}", out.stderr);
    assert!(out.stderr.contains("full output: "), "{}", out.stderr);
    assert!(python.exists());
    assert_eq!(std::fs::read(&kernel_json).unwrap(), kept_kernel);
}

#[test]
fn venv_with_uv_end_to_end() {
    require_python!();
    let Some(vb) = VenvBox::new(true) else {
        return skip("no base interpreter or uv found for KERNELS_TEST_PYTHON");
    };
    venv_suite(&vb, "e2e-uv");

    // `kernels install` with uv: one call for what is missing, nothing for what is there.
    vb.clear_logs();
    let out = vb.sb.kernels(&["install", "e2e-uv", "six"]);
    out.ok();
    let calls = log_lines(&vb.uv_log);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].starts_with("uv pip install") && calls[0].ends_with(" six"));
    vb.clear_logs();
    let out = vb.sb.kernels(&["install", "e2e-uv", "six"]);
    out.ok();
    assert!(out.stderr.contains("Nothing to install"), "{}", out.stderr);
    assert!(log_lines(&vb.uv_log).is_empty());
}

#[test]
fn venv_with_pip_end_to_end() {
    require_python!();
    let Some(vb) = VenvBox::new(false) else {
        return skip("no base interpreter found for KERNELS_TEST_PYTHON");
    };
    venv_suite(&vb, "e2e-pip");
}

#[test]
fn ctrl_c_during_install_removes_the_new_env() {
    require_python!();
    let (Some(uv), Some(base)) = (
        test_bin_dir().map(|b| b.join("uv")).filter(|u| u.is_file()),
        base_python(),
    ) else {
        return skip("no uv or base interpreter next to KERNELS_TEST_PYTHON");
    };
    let mut sb = Sandbox::new();
    warm_caches(&mut sb);
    sb.set("KERNELS_PYTHON", &base);
    // A slow uv: `uv venv` is real, `uv pip install` announces itself and sleeps.
    let started = sb.root().join("install-started");
    let fake = sb.root().join("slow/uv");
    std::fs::create_dir_all(fake.parent().unwrap()).unwrap();
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nif [ \"$1\" = venv ]; then exec '{}' \"$@\"; fi\n: > '{}'\nsleep 60\n",
            uv.display(),
            started.display()
        ),
    )
    .unwrap();
    make_executable(&fake);
    sb.set("KERNELS_UV", &fake);
    // An environment that existed before.
    let envs_home = sb.home().join(".local/share/kernels/envs");
    let other = envs_home.join("other");
    std::fs::create_dir_all(other.join("bin")).unwrap();
    std::fs::write(other.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
    std::fs::write(other.join("bin/python"), "").unwrap();
    let kept = fingerprint(&other);

    let child = sb
        .command(crate::common::kernels_bin())
        .args(["add", "slow", "--backend", "venv"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !started.exists() {
        if !matches!(child.try_wait(), Ok(None)) || Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the install never started\n--- stderr\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let prefix = envs_home.join("slow");
    assert!(
        prefix.join("pyvenv.cfg").is_file(),
        "uv venv ran before the install"
    );
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 130, not the fake uv's own end after 60 s: the interrupt stopped it.
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stderr.contains("rolled back"), "{stderr}");
    assert!(!prefix.exists(), "the half-made env is gone");
    assert!(!sb.user_kernels().join("slow").exists());
    assert_eq!(fingerprint(&other), kept);
}

#[test]
fn r_kernel_from_existing_usr() {
    require_python!();
    let r_bin = ["/usr/lib/R/bin/R", "/usr/bin/R"]
        .iter()
        .map(Path::new)
        .find(|p| p.is_file());
    let irkernel = [
        "/usr/lib/R/site-library/IRkernel/kernelspec",
        "/usr/local/lib/R/site-library/IRkernel/kernelspec",
        "/usr/lib/R/library/IRkernel/kernelspec",
    ]
    .iter()
    .any(|p| Path::new(p).is_dir());
    if r_bin.is_none() || !irkernel {
        return skip(
            "R with IRkernel is not installed under /usr (.ci/run installs r-base-core \
             r-cran-irkernel)",
        );
    }
    let sb = Sandbox::new();
    let doc = add_json(&sb, &["r-test", "--language", "r", "--existing", "/usr"]);
    let (status, steps) = status_and_steps(&doc);
    assert_eq!(
        (status.as_str(), steps),
        ("create", vec!["write_kernel".to_owned()])
    );
    let dir = sb.user_kernels().join("r-test");
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("kernel.json")).unwrap()).unwrap();
    assert_eq!(spec["language"], "R");
    assert_eq!(spec["display_name"], "R (r-test)");
    assert_eq!(
        spec["argv"].as_array().unwrap()[1..],
        serde_json::json!([
            "--slave",
            "-e",
            "IRkernel::main()",
            "--args",
            "{connection_file}"
        ])
        .as_array()
        .unwrap()[..]
    );
    assert!(dir.join("logo-64x64.png").is_file());
    // Re-run: unchanged.
    let (status, _) = status_and_steps(&add_json(
        &sb,
        &["r-test", "--language", "r", "--existing", "/usr"],
    ));
    assert_eq!(status, "unchanged");
    let report = run_kernel(&sb, "r-test", "cat(1+1, '\\n')", &[]);
    assert_eq!(report["status"], "ok", "{report:#}");
    assert_eq!(report["stdout"].as_str().unwrap().trim(), "2");
}

#[test]
fn dry_run_shows_commands_and_files_and_changes_nothing() {
    let Some(base) = base_python().or_else(|| Some(PathBuf::from("/usr/bin/python3"))) else {
        return;
    };
    let mut sb = Sandbox::new();
    sb.set("KERNELS_PYTHON", &base);
    sb.set("KERNELS_NO_UV", "1");
    let out = sb.kernels(&[
        "add",
        "dry",
        "--backend",
        "venv",
        "--pip",
        "six",
        "--dry-run",
    ]);
    out.ok();
    let prefix = sb.home().join(".local/share/kernels/envs/dry");
    assert!(
        out.stdout
            .contains(&format!("-m venv {}", prefix.display())),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "{}/bin/python -m pip install --no-input ipykernel six",
            prefix.display()
        )),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("kernel.json"), "{}", out.stdout);
    assert!(out.stdout.contains("Dry run: nothing was changed."));
    assert!(!prefix.exists());
    assert!(!sb.home().join(".local/share/jupyter").exists());
    assert!(
        !sb.home().join(".local/state/kernels").exists(),
        "a dry run takes no lock"
    );
    let doc = sb.kernels(&["add", "dry", "--backend", "venv", "--dry-run", "--json"]);
    doc.ok();
    let doc = doc.json();
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["outcome"], Value::Null);
    assert_eq!(
        doc["plan"]["kernels"][0]["steps"][1]["step"],
        "write_kernel"
    );
    assert_eq!(doc["plan"]["kernels"][0]["steps"][1]["predicted"], true);
}

#[test]
fn usage_errors_exit_2_before_anything_happens() {
    let sb = Sandbox::new();
    for (args, needle) in [
        (vec!["add", "bad name"], "invalid kernel name"),
        (vec!["add", "x", "--env", "NOEQUALS"], "KEY=VALUE"),
        (
            vec!["add", "x", "--language", "r", "--backend", "venv"],
            "venv backend cannot",
        ),
        (
            vec!["add", "x", "--language", "r", "--pip", "six"],
            "pip packages",
        ),
        (
            vec!["add", "x", "--existing", "/usr", "--python", "3.11"],
            "--existing",
        ),
    ] {
        let out = sb.kernels(&args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
    assert!(!sb.home().join(".local").exists());
}

/// A venv-shaped prefix with an ipykernel dist-info (no real interpreter: registration
/// needs none).
pub fn fake_registered_venv(prefix: &Path) {
    let sp = prefix.join("lib/python3.12/site-packages");
    std::fs::create_dir_all(sp.join("ipykernel/resources")).unwrap();
    std::fs::create_dir_all(sp.join("ipykernel-7.4.0.dist-info")).unwrap();
    std::fs::write(
        sp.join("ipykernel-7.4.0.dist-info/METADATA"),
        "Name: ipykernel\nVersion: 7.4.0\n\n",
    )
    .unwrap();
    std::fs::write(sp.join("ipykernel/resources/logo-64x64.png"), "png").unwrap();
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    std::fs::write(prefix.join("bin/python"), "").unwrap();
    std::fs::write(
        prefix.join("pyvenv.cfg"),
        "home = /usr/bin\nversion_info = 3.12.1\n",
    )
    .unwrap();
}

#[test]
fn existing_env_registration_needs_yes_to_replace_a_foreign_kernel() {
    let sb = Sandbox::new();
    let prefix = sb.root().join("venvs/proj");
    fake_registered_venv(&prefix);
    let foreign = sb.write_spec(
        &sb.user_kernels(),
        "proj",
        r#"{"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Mine", "language": "python"}"#,
    );
    let p = prefix.to_str().unwrap();
    let out = sb.kernels(&["add", "proj", "--existing", p]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("kernels did not make"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    assert!(std::fs::read_to_string(foreign.join("kernel.json"))
        .unwrap()
        .contains("Mine"));

    let doc = add_json(&sb, &["proj", "--existing", p, "--yes"]);
    let (status, steps) = status_and_steps(&doc);
    assert_eq!(
        (status.as_str(), steps),
        ("update", vec!["write_kernel".to_owned()])
    );
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(foreign.join("kernel.json")).unwrap())
            .unwrap();
    assert_eq!(spec["argv"][0], prefix.join("bin/python").to_str().unwrap());
    assert_eq!(spec["metadata"]["kernels"]["backend"], "existing");
    assert_eq!(spec["metadata"]["kernels"]["env_created"], false);
    assert_eq!(spec["env"]["VIRTUAL_ENV"], p);
    assert!(foreign.join("logo-64x64.png").is_file());
    // Now it is ours: a re-run needs no --yes and changes nothing.
    let (status, steps) = status_and_steps(&add_json(&sb, &["proj", "--existing", p]));
    assert_eq!(status, "unchanged");
    assert!(steps.is_empty());
}

#[test]
fn a_non_environment_at_the_target_is_refused_and_untouched() {
    let mut sb = Sandbox::new();
    sb.set("KERNELS_PYTHON", "/nonexistent/python3");
    sb.set("KERNELS_NO_UV", "1");
    let target = sb.root().join("notes");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("keep.txt"), "mine").unwrap();
    let kept = fingerprint(&target);
    let out = sb.kernels(&[
        "add",
        "x",
        "--backend",
        "venv",
        "--prefix",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("refusing to create"), "{}", out.stderr);
    assert_eq!(fingerprint(&target), kept);
    assert!(!sb.user_kernels().join("x").exists());
}

#[test]
fn a_protected_name_is_refused_with_exit_3_also_in_a_dry_run_with_one_json_document() {
    let sb = Sandbox::new();
    let prefix = sb.root().join("venvs/proj");
    fake_registered_venv(&prefix);
    let protected = sb.write_spec(
        &sb.user_kernels(),
        "python38-azureml",
        r#"{"argv": ["python"], "display_name": "Python 3.8 - AzureML", "language": "python"}"#,
    );
    let before = fingerprint(&protected);
    let p = prefix.to_str().unwrap();
    let out = sb.kernels(&[
        "add",
        "Python38-AzureML",
        "--existing",
        p,
        "--dry-run",
        "--json",
    ]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["exit_code"], 3);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["plan"]["kernels"][0]["name"], "python38-azureml");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("protected"));
    let out = sb.kernels(&["add", "python38-azureml", "--existing", p, "--yes"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
    assert_eq!(fingerprint(&protected), before);
}
