//! Boots real ipykernel kernels over the real wire protocol.
//!
//! Needs `KERNELS_TEST_PYTHON`: an interpreter with ipykernel installed. Without it
//! every test records why it skipped (tests/common/skip.rs) and returns.

#![allow(clippy::unwrap_used)]

#[path = "../../../tests/common/skip.rs"]
mod skip;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use boot::{
    boot, boot_many, BootError, BootOptions, BootOutcome, BootReport, ExecuteStatus, InterruptMode,
    LaunchSpec, RunningKernel,
};

/// Interpreter with ipykernel, provided by the test runner.
const KERNELS_TEST_PYTHON: &str = "KERNELS_TEST_PYTHON";
/// Read to give kernels a working `PATH`.
const PATH: &str = "PATH";

const STEP: Duration = Duration::from_secs(30);

/// The test interpreter, or `None` after printing why the test is skipped.
fn python() -> Option<PathBuf> {
    match std::env::var_os(KERNELS_TEST_PYTHON) {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            skip::skip(&format!(
                "{KERNELS_TEST_PYTHON} is not set (scripts/test.sh sets it)"
            ));
            None
        }
    }
}

/// A sandbox: its own HOME, IPython and Jupyter dirs, and the caller's PATH.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn options(&self) -> BootOptions {
        let home = self.home();
        std::fs::create_dir_all(&home).unwrap();
        let mut env = BTreeMap::new();
        env.insert(PATH.to_owned(), std::env::var(PATH).unwrap_or_default());
        env.insert("HOME".to_owned(), home.display().to_string());
        for (key, sub) in [
            ("IPYTHONDIR", "ipython"),
            ("JUPYTER_RUNTIME_DIR", "runtime"),
            ("JUPYTER_DATA_DIR", "data"),
            ("JUPYTER_CONFIG_DIR", "config"),
            ("MPLCONFIGDIR", "mpl"),
        ] {
            env.insert(
                key.to_owned(),
                self.dir.path().join(sub).display().to_string(),
            );
        }
        let mut opts = BootOptions::new(env);
        opts.runtime_dir = Some(self.dir.path().join("runtime"));
        opts
    }
}

fn ipykernel_spec(name: &str, python: &Path) -> LaunchSpec {
    LaunchSpec {
        name: name.to_owned(),
        argv: vec![
            python.display().to_string(),
            "-m".to_owned(),
            "ipykernel_launcher".to_owned(),
            "-f".to_owned(),
            "{connection_file}".to_owned(),
        ],
        env: BTreeMap::new(),
        language: "python".to_owned(),
        interrupt_mode: InterruptMode::Signal,
        resource_dir: PathBuf::from("/nonexistent/spec"),
    }
}

/// A spec whose "kernel" is `python -c CODE ARGS...`: a program that misbehaves on purpose.
fn script_spec(name: &str, python: &Path, code: &str, args: &[&str]) -> LaunchSpec {
    let mut spec = ipykernel_spec(name, python);
    spec.argv = [
        python.display().to_string(),
        "-c".to_owned(),
        code.to_owned(),
    ]
    .into_iter()
    .chain(args.iter().map(|a| (*a).to_owned()))
    .collect();
    spec
}

/// Boots `spec` in a fresh sandbox with `timeout` to reply, and checks that it timed out.
fn boot_timing_out(spec: &LaunchSpec, timeout: Duration) -> BootReport {
    let sandbox = Sandbox::new();
    let mut opts = sandbox.options();
    opts.timeout = timeout;
    let report = boot(spec, &opts);
    assert_eq!(
        report.outcome,
        BootOutcome::Timeout,
        "{:?}",
        report.stderr_tail
    );
    report
}

/// Live (not zombie) members of process group `pgid`, from `/proc/*/stat`.
fn live_group_members(pgid: u32) -> Vec<u32> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses.
        let Some((_, after_comm)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string() {
            members.push(pid);
        }
    }
    members
}

/// The leader was reaped and every member of its group is dead. Members are not our
/// children, so we poll (bounded) until SIGKILL has taken effect.
fn assert_gone(pid: u32) {
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} is still there"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut live = live_group_members(pid);
    while !live.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        live = live_group_members(pid);
    }
    assert!(
        live.is_empty(),
        "process group {pid} still has live members {live:?}"
    );
}

#[test]
fn boots_ipykernel_and_reports_language() {
    let Some(py) = python() else { return };
    let sandbox = Sandbox::new();
    let opts = sandbox.options();
    let report = boot(&ipykernel_spec("py", &py), &opts);
    let BootOutcome::Ok {
        implementation,
        language,
        language_version,
        protocol_version,
        ..
    } = &report.outcome
    else {
        panic!("{:?}\nstderr: {:#?}", report.outcome, report.stderr_tail);
    };
    assert_eq!(language, "python");
    assert_eq!(implementation, "ipython");
    let version_of_python = Command::new(&py)
        .args(["-c", "import platform; print(platform.python_version())"])
        .output()
        .unwrap();
    assert_eq!(
        language_version,
        String::from_utf8_lossy(&version_of_python.stdout).trim()
    );
    assert!(protocol_version.starts_with("5."), "{protocol_version}");
    let elapsed = report.elapsed_to_reply.unwrap();
    assert!(elapsed <= report.total);
    assert_eq!(report.finished_at - report.started_at, report.total);
    assert_eq!(report.shutdown_error, None);
    assert_eq!(report.invalid_messages, 0);
    assert_gone(report.pid.unwrap());
    // The connection file was removed.
    let runtime = opts.runtime_dir.unwrap();
    let left: Vec<_> = std::fs::read_dir(&runtime).unwrap().collect();
    assert!(left.is_empty(), "left in {}: {left:?}", runtime.display());
}

#[test]
fn execute_sees_the_launch_environment() {
    let Some(py) = python() else { return };
    let sandbox = Sandbox::new();
    let mut opts = sandbox.options();
    opts.inherited_env
        .insert("PYTHONEXECUTABLE".to_owned(), "/wrong/python".to_owned());
    let mut spec = ipykernel_spec("envcheck", &py);
    spec.env.insert("FOO".to_owned(), "${HOME}/x".to_owned());
    spec.env
        .insert("BAR".to_owned(), "$$literal $UNSET".to_owned());
    let mut kernel = RunningKernel::start(&spec, &opts).unwrap();
    let file = kernel.connection_file().unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written["key"], kernel.connection().key.as_str());
    assert_eq!(written["kernel_name"], "envcheck");

    let code = "import sys, os; print(sys.executable); print(os.environ['FOO'])\n\
                print(os.environ['BAR']); print(os.environ.get('PYTHONEXECUTABLE', '<unset>'))\n\
                print(os.environ['JPY_PARENT_PID']); 6 * 7";
    let result = kernel.execute(code, STEP).unwrap();
    assert_eq!(result.status, ExecuteStatus::Ok, "{result:?}");
    let lines: Vec<&str> = result.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{:?}", result.stdout);
    assert_eq!(
        std::fs::canonicalize(lines[0]).unwrap(),
        std::fs::canonicalize(&py).unwrap()
    );
    assert_eq!(lines[1], format!("{}/x", sandbox.home().display()));
    assert_eq!(lines[2], "$literal $UNSET");
    assert_eq!(lines[3], "<unset>");
    assert_eq!(lines[4], std::process::id().to_string());
    assert_eq!(result.result.as_deref(), Some("42"));

    // Errors come back typed; stderr is collected separately.
    let failed = kernel
        .execute("import sys; print('oops', file=sys.stderr); 1/0", STEP)
        .unwrap();
    assert_eq!(failed.status, ExecuteStatus::Error);
    assert_eq!(failed.error.unwrap().ename, "ZeroDivisionError");
    assert_eq!(failed.stderr, "oops\n");

    let info = kernel.kernel_info(STEP).unwrap();
    assert_eq!(info["status"], "ok");
    assert_eq!(kernel.invalid_messages(), 0);

    let pid = kernel.pid();
    kernel.shutdown().unwrap();
    assert!(!file.exists(), "connection file {} remains", file.display());
    assert_gone(pid);
}

#[test]
fn python_without_ipykernel_dies_with_its_stderr() {
    let Some(py) = python() else { return };
    let sandbox = Sandbox::new();
    let venv = sandbox.dir.path().join("bare-venv");
    let status = Command::new(&py)
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(status.success());
    let bare = venv.join("bin").join("python");
    let report = boot(&ipykernel_spec("bare", &bare), &sandbox.options());
    assert!(
        matches!(
            report.outcome,
            BootOutcome::Died {
                exit_code: Some(code),
                signal: None
            } if code != 0
        ),
        "{:?}",
        report.outcome
    );
    let stderr = report.stderr_tail.join("\n");
    assert!(stderr.contains("No module named"), "{stderr}");
    assert!(stderr.contains("ipykernel_launcher"), "{stderr}");
    assert_eq!(report.elapsed_to_reply, None);
    assert_gone(report.pid.unwrap());
}

#[test]
fn a_hanging_kernel_times_out_and_its_group_is_killed() {
    let Some(py) = python() else { return };
    // A child in the same group must go too.
    let spec = script_spec(
        "hang",
        &py,
        "import subprocess, sys, time; \
         subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); \
         print('hanging', flush=True); time.sleep(600)",
        &[],
    );
    let report = boot_timing_out(&spec, Duration::from_secs(3));
    assert_eq!(report.stdout_tail, ["hanging"]);
    assert_gone(report.pid.unwrap());
}

#[test]
fn a_kernel_with_another_key_times_out_with_rejected_messages() {
    let Some(py) = python() else { return };
    // A real ipykernel on our ports, but with a different key in its connection file.
    let spec = script_spec(
        "wrongkey",
        &py,
        "import json, os, sys; path = sys.argv[1]; info = json.load(open(path)); \
         info['key'] = 'not-' + info['key']; other = path + '.other.json'; \
         json.dump(info, open(other, 'w')); \
         os.execv(sys.executable, [sys.executable, '-m', 'ipykernel_launcher', '-f', other])",
        &["{connection_file}"],
    );
    let report = boot_timing_out(&spec, Duration::from_secs(8));
    assert!(report.invalid_messages > 0, "{report:?}");
    let stderr = report.stderr_tail.join("\n");
    assert!(stderr.contains("Invalid Signature"), "{stderr}");
    assert_gone(report.pid.unwrap());
}

#[test]
fn a_missing_program_fails_to_spawn() {
    // Needs no Python; runs everywhere.
    let sandbox = Sandbox::new();
    let opts = sandbox.options();
    let mut spec = ipykernel_spec("missing", Path::new("/nonexistent/bin/python"));
    let report = boot(&spec, &opts);
    let BootOutcome::SpawnFailed { message } = &report.outcome else {
        panic!("{:?}", report.outcome);
    };
    assert!(message.contains("/nonexistent/bin/python"), "{message}");
    assert_eq!(report.pid, None);

    spec.argv[0] = "no-such-kernel-program-anywhere".to_owned();
    let report = boot(&spec, &opts);
    let BootOutcome::SpawnFailed { message } = &report.outcome else {
        panic!("{:?}", report.outcome);
    };
    assert!(message.contains("not found on PATH"), "{message}");

    spec.argv.clear();
    assert!(matches!(
        RunningKernel::start(&spec, &opts),
        Err(BootError::EmptyArgv { .. })
    ));
    // No connection file was left behind.
    let left: Vec<_> = std::fs::read_dir(opts.runtime_dir.unwrap())
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

fn interrupt_a_sleep(mode: InterruptMode) {
    let Some(py) = python() else { return };
    let sandbox = Sandbox::new();
    let mut spec = ipykernel_spec("interrupt", &py);
    spec.interrupt_mode = mode;
    let mut kernel = RunningKernel::start(&spec, &sandbox.options()).unwrap();
    let pending = kernel.execute_start("import time; time.sleep(60)").unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let interrupted_at = Instant::now();
    kernel.interrupt().unwrap();
    let result = kernel
        .wait_execute(&pending, Duration::from_secs(5))
        .unwrap();
    assert_eq!(result.status, ExecuteStatus::Error, "{result:?}");
    assert_eq!(result.error.unwrap().ename, "KeyboardInterrupt");
    // The kernel is still usable afterwards.
    let after = kernel.execute("print('still here')", STEP).unwrap();
    assert_eq!(after.stdout, "still here\n");
    eprintln!("interrupt took {:?}", interrupted_at.elapsed());
    kernel.shutdown().unwrap();
}

#[test]
fn signal_interrupt_stops_running_code() {
    interrupt_a_sleep(InterruptMode::Signal);
}

#[test]
fn message_interrupt_stops_running_code() {
    interrupt_a_sleep(InterruptMode::Message);
}

#[test]
fn boot_many_boots_concurrently() {
    let Some(py) = python() else { return };
    let sandbox = Sandbox::new();
    let specs: Vec<LaunchSpec> = (0..4)
        .map(|i| ipykernel_spec(&format!("many{i}"), &py))
        .collect();
    let reports = boot_many(&specs, &sandbox.options());
    assert_eq!(reports.len(), 4);
    for (report, spec) in reports.iter().zip(&specs) {
        assert_eq!(report.name, spec.name);
        assert!(
            report.outcome.is_ok(),
            "{}: {:?}\n{:#?}",
            report.name,
            report.outcome,
            report.stderr_tail
        );
    }
    // Concurrent: every boot started before any boot finished.
    let last_start = reports.iter().map(|r| r.started_at).max().unwrap();
    let first_finish = reports.iter().map(|r| r.finished_at).min().unwrap();
    assert!(last_start < first_finish);
    // And each was waiting for its reply while the others were.
    let first_reply = reports
        .iter()
        .map(|r| r.started_at + r.elapsed_to_reply.unwrap())
        .min()
        .unwrap();
    assert!(last_start < first_reply);
}
