//! JupyterLab's view: with a REAL `jupyter server` running for the (sandbox) user, `kernels
//! list` uses that server's search path — its interpreter's prefix, read from the running
//! process — says which server it matched, and lists exactly the kernels the server's own
//! `/api/kernelspecs` lists (but Jupyter's synthetic `python3`, see docs/search-order.md);
//! `KERNELS_JUPYTER_PREFIX` wins over it; once the server is gone, behaviour is as before.
//!
//! Needs jupyter_server importable by the test Python (scripts/test.sh installs it); every
//! wait is bounded and the server is always killed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::add::base_python;
use crate::common::{run, Sandbox};
use crate::require_python;

/// Kills and reaps the server when dropped, whatever the test did.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The site-packages dir that holds jupyter_server for the test Python, if it has it.
fn jupyter_server_site(python: &Path) -> Option<PathBuf> {
    let out = Command::new(python)
        .args([
            "-c",
            "import jupyter_server, os; print(os.path.dirname(os.path.dirname(jupyter_server.__file__)))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// A venv of its own for the server (so its prefix is the sandbox's), seeing the test
/// Python's packages through a `.pth` file.
fn server_venv(sb: &Sandbox, site: &Path) -> PathBuf {
    let venv = sb.root().join("lab");
    let base = base_python().expect("base python");
    run(Command::new(&base)
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv))
    .ok();
    let sp = std::fs::read_dir(venv.join("lib"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.is_dir())
        .expect("site-packages");
    std::fs::write(sp.join("test-python.pth"), format!("{}\n", site.display())).unwrap();
    venv
}

/// Waits (bounded) for the server's runtime file; kills the test with the server's log if
/// it does not come.
fn wait_for_runtime_file(sb: &Sandbox, pid: u32, log: &Path) -> serde_json::Value {
    let file = sb
        .home()
        .join(format!(".local/share/jupyter/runtime/jpserver-{pid}.json"));
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(&file) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                return v;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "the server wrote no {} within 90 s:\n{}",
        file.display(),
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// The kernel names the server itself serves (`GET /api/kernelspecs`).
fn server_kernel_names(python: &Path, url: &str, token: &str) -> BTreeSet<String> {
    let code = format!(
        "import json, urllib.request; r = urllib.request.urlopen(urllib.request.Request({:?}, \
         headers={{'Authorization': 'token {token}'}}), timeout=30); \
         print(json.dumps(sorted(json.load(r)['kernelspecs'])))",
        format!("{url}api/kernelspecs")
    );
    let out = run(Command::new(python).args(["-c", &code]));
    out.ok();
    serde_json::from_str(out.stdout.trim()).unwrap()
}

fn listed(doc: &serde_json::Value) -> BTreeSet<String> {
    doc["kernelspecs"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn list_and_doctor_see_what_the_running_jupyter_server_sees() {
    let python = require_python!();
    let Some(site) = jupyter_server_site(&python) else {
        crate::common::skip(
            "jupyter_server is not installed for KERNELS_TEST_PYTHON (scripts/test.sh installs it)",
        );
        return;
    };
    let sb = Sandbox::new();
    let lab = server_venv(&sb, &site);
    let spec = format!(
        r#"{{"argv": ["{}/bin/python", "-m", "ipykernel_launcher", "-f", "{{connection_file}}"],
            "display_name": "Lab only", "language": "python"}}"#,
        lab.display()
    );
    sb.write_spec(&lab.join("share/jupyter/kernels"), "labonly", &spec);
    sb.write_spec(
        &sb.user_kernels(),
        "mine",
        &spec.replace("Lab only", "Mine"),
    );

    // Before any server: the lab venv's kernels are not on the search path.
    let before = sb.kernels(&["list", "--json"]);
    before.ok();
    assert!(!listed(&before.json()).contains("labonly"));
    assert!(before.json().get("jupyter_server").is_none());

    let log = sb.root().join("server.log");
    let token = "kernels-e2e-token";
    let child = sb
        .command(lab.join("bin/python"))
        .args([
            "-m",
            "jupyter_server",
            "--no-browser",
            "--allow-root",
            "--ServerApp.port=0",
            "--ServerApp.ip=127.0.0.1",
        ])
        .arg(format!("--IdentityProvider.token={token}"))
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(sb.root().join("server.err")).unwrap())
        .spawn()
        .expect("start jupyter server");
    let server = Server(child);
    let pid = server.0.id();
    let info = wait_for_runtime_file(&sb, pid, &sb.root().join("server.err"));

    let out = sb.kernels(&["list", "--json"]);
    out.ok();
    let doc = out.json();
    assert_eq!(doc["jupyter_server"]["pid"], pid, "{doc:#}");
    assert_eq!(doc["jupyter_server"]["prefix"], lab.display().to_string());
    let ours = listed(&doc);
    assert!(
        ours.contains("labonly") && ours.contains("mine"),
        "{ours:?}"
    );
    // Exactly the server's own list, but its synthetic python3.
    let url = info["url"].as_str().expect("url");
    let theirs = server_kernel_names(&python, url, token);
    let without_native: BTreeSet<String> =
        theirs.iter().filter(|n| *n != "python3").cloned().collect();
    assert_eq!(ours, without_native, "server: {theirs:?}");

    // The text view says which server it matched.
    let out = sb.kernels(&["list"]);
    out.ok();
    assert!(out.stderr.contains(&format!("pid {pid}")), "{}", out.stderr);
    assert!(out.stdout.contains("labonly"), "{}", out.stdout);

    // doctor checks the same kernels.
    let out = sb.kernels(&["doctor", "--json"]);
    assert!(out.stdout.contains("labonly"), "{}", out.stdout);

    // KERNELS_JUPYTER_PREFIX wins.
    let mut pinned = Sandbox::new();
    for (k, v) in sb.vars() {
        pinned.set(k, v);
    }
    pinned.set("KERNELS_JUPYTER_PREFIX", sb.root().join("elsewhere"));
    let out = pinned.kernels(&["list", "--json"]);
    out.ok();
    assert!(!listed(&out.json()).contains("labonly"));
    assert!(out.json().get("jupyter_server").is_none());

    // The server gone (killed: its runtime file stays behind, stale): as before.
    drop(server);
    let out = sb.kernels(&["list", "--json"]);
    out.ok();
    assert!(!listed(&out.json()).contains("labonly"));
    assert!(out.json().get("jupyter_server").is_none());
}
