//! `kernels add` with the conda family.
//!
//! Plumbing runs against the conda STAND-IN (`tests/standins/conda`, not conda: it solves
//! nothing and downloads nothing, but keeps conda's command-line contract, including wiping
//! an existing environment on `create`). Every call reaches it through a wrapper that logs
//! its arguments, so the tests can count tool calls exactly.
//!
//! The same suite runs against a REAL conda, mamba or micromamba when `KERNELS_TEST_CONDA`
//! names one or one is on PATH; otherwise `conda_family_real` says why it skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::add::{add_json, fingerprint, log_lines, recorder, run_kernel, status_and_steps};
use crate::common::Sandbox;
use crate::require_python;

/// A sandbox whose conda root `<tmp>/conda` has the stand-in behind a logging wrapper.
pub struct CondaBox {
    /// The sandbox.
    pub sb: Sandbox,
    /// The conda root.
    pub root: PathBuf,
    /// Every call of the tool, one line each.
    pub log: PathBuf,
}

impl CondaBox {
    /// The stand-in, optionally sleeping `sleep` seconds inside create/install.
    pub fn standin(sleep: Option<u32>) -> CondaBox {
        let mut sb = Sandbox::new();
        let root = sb.root().join("conda");
        std::fs::create_dir_all(root.join("conda-meta")).unwrap();
        std::fs::write(root.join("conda-meta/history"), "").unwrap();
        let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standins/conda");
        let inner = root.join("bin/conda-standin");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::os::unix::fs::symlink(&standin, &inner).unwrap();
        let log = sb.root().join("conda.log");
        // The stand-in's knobs are set by the wrapper: `kernels` passes no KERNELS_* variable
        // to the tools it runs.
        let env = match sleep {
            Some(s) => format!("KERNELS_STANDIN_SLEEP={s}; export KERNELS_STANDIN_SLEEP\n"),
            None => String::new(),
        };
        let exe = recorder(&root.join("bin"), "conda", &inner, &log, &env);
        sb.set("KERNELS_CONDA", &exe);
        CondaBox { sb, root, log }
    }

    /// `<root>/envs/NAME`.
    pub fn env(&self, name: &str) -> PathBuf {
        self.root.join("envs").join(name)
    }

    /// The tool calls so far, then forgets them.
    pub fn take_calls(&self) -> Vec<String> {
        let calls = log_lines(&self.log);
        let _ = std::fs::remove_file(&self.log);
        calls
    }
}

#[test]
fn conda_standin_one_create_then_nothing_then_only_what_is_missing() {
    let cb = CondaBox::standin(None);
    let sb = &cb.sb;
    let prefix = cb.env("c1");
    let p = prefix.display().to_string();

    // Dry run: the exact command, no call.
    let out = sb.kernels(&["add", "c1", "-p", "numpy", "--dry-run"]);
    out.ok();
    assert!(
        out.stdout.contains(&format!(
            "/bin/conda create -p {p} --json --yes python pip ipykernel numpy"
        )),
        "{}",
        out.stdout
    );
    assert!(cb.take_calls().is_empty());

    // ONE create with python, pip, ipykernel and the requested packages.
    let doc = add_json(sb, &["c1", "-p", "numpy", "-p", "scipy>=1"]);
    assert_eq!(
        status_and_steps(&doc),
        (
            "create".into(),
            vec!["create_env".into(), "write_kernel".into()]
        )
    );
    assert_eq!(
        cb.take_calls(),
        [format!(
            "conda create -p {p} --json --yes python pip ipykernel numpy scipy>=1"
        )]
    );
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(sb.user_kernels().join("c1/kernel.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(spec["argv"][0], format!("{p}/bin/python"));
    assert_eq!(spec["env"]["CONDA_PREFIX"], p);
    assert_eq!(spec["env"]["CONDA_DEFAULT_ENV"], "c1");
    assert_eq!(spec["env"]["PATH"], format!("{p}/bin:${{PATH}}"));
    assert_eq!(spec["metadata"]["kernels"]["backend"], "conda");
    assert_eq!(spec["metadata"]["kernels"]["env_created"], true);

    // The same request again: zero tool calls, unchanged.
    let doc = add_json(sb, &["c1", "-p", "numpy", "-p", "scipy>=1"]);
    assert_eq!(status_and_steps(&doc), ("unchanged".into(), vec![]));
    assert!(cb.take_calls().is_empty());

    // A changed request converges: ONE install of only what is missing, never a create.
    let doc = add_json(sb, &["c1", "-p", "numpy", "-p", "pandas"]);
    let (status, steps) = status_and_steps(&doc);
    assert_eq!(status, "update");
    assert_eq!(steps[0], "install_packages");
    assert_eq!(
        cb.take_calls(),
        [format!("conda install -p {p} --json --yes pandas")]
    );
    let (status, _) = status_and_steps(&add_json(sb, &["c1", "-p", "numpy", "-p", "pandas"]));
    assert_eq!(status, "unchanged");
    assert!(cb.take_calls().is_empty());
}

#[test]
fn conda_standin_never_creates_over_an_existing_env() {
    let cb = CondaBox::standin(None);
    let sb = &cb.sb;
    // A conda environment that exists (made by hand, without python or ipykernel), holding a
    // file of its own.
    let prefix = cb.env("c2");
    std::fs::create_dir_all(prefix.join("conda-meta")).unwrap();
    std::fs::write(prefix.join("conda-meta/history"), "").unwrap();
    std::fs::write(
        prefix.join("conda-meta/zlib-1.3-h0.json"),
        r#"{"name": "zlib", "version": "1.3", "build": "h0"}"#,
    )
    .unwrap();
    std::fs::write(prefix.join("precious.txt"), "keep me").unwrap();
    let doc = add_json(sb, &["c2"]);
    let (status, steps) = status_and_steps(&doc);
    assert_eq!(status, "create");
    assert_eq!(steps, ["install_packages", "write_kernel"]);
    let calls = cb.take_calls();
    assert_eq!(
        calls,
        [format!(
            "conda install -p {} --json --yes python pip ipykernel",
            prefix.display()
        )]
    );
    assert!(calls.iter().all(|c| !c.contains("create")));
    assert_eq!(
        std::fs::read_to_string(prefix.join("precious.txt")).unwrap(),
        "keep me"
    );
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(sb.user_kernels().join("c2/kernel.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(spec["metadata"]["kernels"]["env_created"], false);
    assert_eq!(spec["metadata"]["kernels"]["backend"], "existing");

    // A directory that is not an environment: refused, untouched, no call.
    let other = cb.env("c3");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let kept = fingerprint(&other);
    let out = sb.kernels(&["add", "c3"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("refusing to create"), "{}", out.stderr);
    assert_eq!(fingerprint(&other), kept);
    assert!(cb.take_calls().is_empty());
}

#[test]
fn conda_standin_unknown_package_leaves_nothing_and_keeps_what_existed() {
    let cb = CondaBox::standin(None);
    let sb = &cb.sb;
    add_json(sb, &["c1"]);
    let kept_env = fingerprint(&cb.env("c1"));
    let kept_kernel = fingerprint(&sb.user_kernels());
    cb.take_calls();

    let out = sb.kernels(&["add", "c4", "-p", "nonexistent-pkg"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    // The tool's own error and a hint.
    assert!(out.stderr.contains("PackagesNotFound"), "{}", out.stderr);
    assert!(out.stderr.contains("nonexistent-pkg"), "{}", out.stderr);
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
    assert_eq!(cb.take_calls().len(), 1);
    assert!(!cb.env("c4").exists());
    assert!(!sb.user_kernels().join("c4").exists());
    assert_eq!(fingerprint(&cb.env("c1")), kept_env);
    assert_eq!(fingerprint(&sb.user_kernels()), kept_kernel);

    // JSON mode: one document on stdout saying what failed.
    let out = sb.kernels(&["add", "c4", "-p", "nonexistent-pkg", "--json"]);
    assert_eq!(out.code, 1);
    let doc = out.json();
    assert_eq!(doc["ok"], false);
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nonexistent-pkg"));
}

#[test]
fn conda_standin_ctrl_c_and_a_second_run_waiting_for_the_lock() {
    let cb = CondaBox::standin(Some(30));
    let sb = &cb.sb;
    // An environment and kernel from before (made quickly: the sleep applies to create, so
    // make this one by hand as a registered existing env).
    let before = cb.env("old");
    std::fs::create_dir_all(before.join("conda-meta")).unwrap();
    std::fs::write(before.join("conda-meta/history"), "").unwrap();
    std::fs::write(before.join("conda-meta/marker-1-0.json"), "{}").unwrap();
    let kept = fingerprint(&before);

    let child = sb
        .command(crate::common::kernels_bin())
        .args(["add", "slow", "-p", "scipy"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while log_lines(&cb.log).is_empty() {
        assert!(Instant::now() < deadline, "conda was never called");
        std::thread::sleep(Duration::from_millis(50));
    }

    // A second run meanwhile: busy, exit 5, naming the first run's pid.
    let out = crate::common::run(
        sb.command(crate::common::kernels_bin())
            .env("KERNELS_LOCK_TIMEOUT", "0.5")
            .args(["add", "other"]),
    );
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("waiting for another kernels run"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("another kernels run is busy (pid {})", child.id())),
        "{}",
        out.stderr
    );

    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let signalled = Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(signalled.elapsed() < Duration::from_secs(10));
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!cb.env("slow").exists());
    assert!(!sb.user_kernels().join("slow").exists());
    assert_eq!(fingerprint(&before), kept);
    // The stand-in was stopped too (its process group got the signal).
    let calls = cb.take_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
}

/// A real conda-family executable: `KERNELS_TEST_CONDA`, else conda, mamba or micromamba on
/// PATH.
fn real_conda() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KERNELS_TEST_CONDA") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for name in ["conda", "mamba", "micromamba"] {
        for dir in std::env::split_paths(&path) {
            let c = dir.join(name);
            if c.is_file() {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn conda_family_real() {
    require_python!();
    let Some(real) = real_conda() else {
        eprintln!("skipped: no real conda/mamba/micromamba (set KERNELS_TEST_CONDA)");
        return;
    };
    let mut sb = Sandbox::new();
    let name = real.file_name().unwrap().to_string_lossy().into_owned();
    let flavor = ["micromamba", "mamba", "conda"]
        .into_iter()
        .find(|f| name.starts_with(f))
        .unwrap_or("conda");
    let log = sb.root().join("conda.log");
    // The wrapper keeps the tool's file name: that is how its flavour is recognised.
    let exe = recorder(&sb.root().join("wrap"), &name, &real, &log, "");
    sb.set("KERNELS_CONDA", &exe);
    if flavor == "micromamba" {
        sb.set("MAMBA_ROOT_PREFIX", sb.root().join("mamba-root"));
    }
    for k in ["CONDA_PKGS_DIRS", "HTTPS_PROXY", "https_proxy"] {
        if let Ok(v) = std::env::var(k) {
            sb.set(k, v);
        }
    }
    let prefix = sb.root().join("envs/real1");
    let p = prefix.to_str().unwrap().to_owned();
    // conda-forge: no Terms-of-Service gate, and it has everything these tests ask for.
    let args = [
        "real1",
        "--backend",
        flavor,
        "--prefix",
        &p,
        "-c",
        "conda-forge",
    ];
    let doc = add_json(&sb, &args);
    assert_eq!(status_and_steps(&doc).0, "create");
    let calls = log_lines(&log);
    let creates: Vec<&String> = calls.iter().filter(|c| c.contains(" create ")).collect();
    assert_eq!(creates.len(), 1, "{calls:?}");
    assert!(creates[0].contains("python pip ipykernel"), "{calls:?}");
    let _ = std::fs::remove_file(&log);

    let report = run_kernel(
        &sb,
        "real1",
        "import json, os, sys; print(json.dumps([sys.executable, os.environ['PATH'].split(os.pathsep)[0], os.environ.get('CONDA_PREFIX')]))",
        &[],
    );
    assert_eq!(report["status"], "ok", "{report:#}");
    let seen: Value = serde_json::from_str(report["stdout"].as_str().unwrap().trim()).unwrap();
    assert_eq!(seen[0], format!("{p}/bin/python"));
    assert_eq!(seen[1], format!("{p}/bin"));
    assert_eq!(seen[2], p);

    let doc = add_json(&sb, &args);
    assert_eq!(status_and_steps(&doc), ("unchanged".into(), vec![]));
    assert!(log_lines(&log).is_empty(), "{:?}", log_lines(&log));

    let kept = fingerprint(&prefix);
    let out = sb.kernels(&[
        "add",
        "real2",
        "--backend",
        flavor,
        "--prefix",
        sb.root().join("envs/real2").to_str().unwrap(),
        "-c",
        "conda-forge",
        "-p",
        "kernels-e2e-no-such-package-0xdead",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(!sb.root().join("envs/real2").exists());
    assert!(!sb.user_kernels().join("real2").exists());
    assert_eq!(fingerprint(&prefix), kept);
}
