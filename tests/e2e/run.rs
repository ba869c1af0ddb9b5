//! `kernels run NAME -- CMD`: a real venv kernel (made by `kernels add` with the real uv and
//! ipykernel), and real child processes that print, sleep, get interrupted and exit.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::add::{add_json, base_python, warm_caches};
use crate::common::{kernels_bin, test_bin_dir, Sandbox};
use crate::require_python;

/// A sandbox with a real venv kernel `NAME` (`--env RUN_E2E=yes`); `None` (skipped) when the
/// test Python or uv is missing.
pub fn venv_kernel(name: &str) -> Option<(Sandbox, PathBuf)> {
    let bin = test_bin_dir()?;
    let base = base_python()?;
    if !bin.join("uv").exists() {
        crate::common::skip("no uv next to KERNELS_TEST_PYTHON");
        return None;
    }
    let mut sb = Sandbox::new();
    warm_caches(&mut sb);
    sb.set("KERNELS_PYTHON", &base)
        .set("KERNELS_UV", bin.join("uv"));
    let prefix = sb.root().join("envs").join(name);
    let p = prefix.to_str()?.to_owned();
    add_json(
        &sb,
        &[
            name,
            "--backend",
            "venv",
            "--prefix",
            &p,
            "--env",
            "RUN_E2E=yes",
        ],
    );
    Some((sb, prefix))
}

#[test]
fn run_gives_the_kernel_environment_and_passes_the_exit_status_through() {
    require_python!();
    let Some((sb, prefix)) = venv_kernel("runk") else {
        return;
    };
    let p = prefix.display().to_string();
    // `python` is found on the kernel's PATH: the environment's own interpreter.
    let out = sb.kernels(&[
        "run",
        "runk",
        "--",
        "python",
        "-c",
        "import json, os, sys; print(json.dumps([sys.prefix, os.environ['PATH'].split(':')[0], \
         os.environ.get('RUN_E2E'), os.environ.get('VIRTUAL_ENV')]))",
    ]);
    out.ok();
    let seen: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(seen[0], p, "{}", out.stdout);
    assert_eq!(seen[1], format!("{p}/bin"));
    assert_eq!(seen[2], "yes");
    assert_eq!(seen[3], p, "the baked activation is applied");
    // ipykernel is importable: it is the kernel's environment.
    sb.kernels(&["run", "runk", "--", "python", "-c", "import ipykernel"])
        .ok();

    // The exit status is the command's.
    let out = sb.kernels(&["run", "runk", "--", "python", "-c", "raise SystemExit(42)"]);
    assert_eq!(out.code, 42, "{}", out.stderr);

    // Not found: exit 1, the cause and a hint, no traceback.
    let out = sb.kernels(&["run", "runk", "--", "no-such-command-e2e"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no-such-command-e2e"), "{}", out.stderr);
    assert!(out.stderr.contains("hint"), "{}", out.stderr);
    let out = sb.kernels(&["run", "no-such-kernel", "--", "true"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    // No command is a usage error.
    assert_eq!(sb.kernels(&["run", "runk"]).code, 2);
}

#[test]
fn run_streams_output_and_the_command_gets_the_signal() {
    require_python!();
    let Some((sb, _prefix)) = venv_kernel("runsig") else {
        return;
    };
    // The handler writes to fd 1 itself, not through `print`: a signal that lands while
    // `print('ready')` is still inside its write (a loaded machine) runs the handler inside
    // that flush, where a `print` to the same buffered stdout fails with "reentrant call"
    // and the line is never written.
    let script = "import os, signal, sys, time\n\
                  def stop(*_):\n    os.write(1, b'got SIGINT\\n'); sys.exit(7)\n\
                  signal.signal(signal.SIGINT, stop)\n\
                  print('ready', flush=True)\n\
                  time.sleep(120)\n";
    let mut child = sb
        .command(kernels_bin())
        .args(["run", "runsig", "--", "python", "-c", script])
        // Its own process group, as a terminal's foreground job has: only the signal this
        // test sends reaches it, never one meant for the test runner's group.
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // "ready" arrives while the command is still sleeping: output is not buffered.
    let first = rx.recv_timeout(Duration::from_secs(60));
    if first.as_deref() != Ok("ready") {
        let _ = child.kill();
        let _ = child.wait();
        panic!("no streamed output: {first:?}");
    }
    assert!(child.try_wait().unwrap().is_none(), "still running");
    // SIGINT to the pid `kernels` was started as reaches the command itself.
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let next = rx.recv_timeout(Duration::from_secs(30));
    let status = child.wait().unwrap();
    assert_eq!(next.as_deref(), Ok("got SIGINT"));
    assert_eq!(status.code(), Some(7));
}
