//! `kernels add` (and the commands around it) with the conda backend, against two tools with
//! the same test bodies:
//!
//! - the conda STAND-IN (`tests/standins/conda`, not conda: it solves nothing and downloads
//!   nothing, but keeps conda's command-line contract, including wiping an existing
//!   environment on `create`);
//! - the REAL conda named by `KERNELS_TEST_CONDA` (scripts/test.sh bootstraps one offline when
//!   the conda lab is beside the checkout), with the channels of its own configuration.
//!   Without it, each `conda_real_*` test records that it skipped.
//!
//! Either way the tool sits at `<sandbox>/conda/bin/conda`, a logging wrapper in a root of its
//! own (so environments land in `<sandbox>/conda/envs`), and the tests count tool calls
//! exactly. What a real conda cannot be made to do here (a 30 s sleep, garbage output,
//! mamba's argv) stays stand-in only.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::add::{add_json, fingerprint, log_lines, recorder, run_kernel, status_and_steps};
use crate::common::{skip, test_python, Sandbox};

/// The conda a test drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// `tests/standins/conda`.
    Standin,
    /// `KERNELS_TEST_CONDA`.
    Real,
}

/// A sandbox whose conda root `<tmp>/conda` has the tool behind a logging wrapper.
pub struct CondaBox {
    /// The sandbox.
    pub sb: Sandbox,
    /// The conda root.
    pub root: PathBuf,
    /// Every call of the tool, one line each.
    pub log: PathBuf,
    /// Which tool.
    pub tool: Tool,
}

/// The real conda (`KERNELS_TEST_CONDA`), if one is configured.
pub fn real_conda() -> Option<PathBuf> {
    std::env::var_os("KERNELS_TEST_CONDA")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

impl CondaBox {
    /// The stand-in, optionally sleeping `sleep` seconds inside create/install.
    pub fn standin(sleep: Option<u32>) -> CondaBox {
        let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standins/conda");
        // The stand-in's knobs are set by the wrapper: `kernels` passes no KERNELS_* variable
        // to the tools it runs. Its channel has no R, like the real one's.
        let mut env =
            "KERNELS_STANDIN_MISSING='r-base r-irkernel'; export KERNELS_STANDIN_MISSING\n"
                .to_owned();
        if let Some(s) = sleep {
            env.push_str(&format!(
                "KERNELS_STANDIN_SLEEP={s}; export KERNELS_STANDIN_SLEEP\n"
            ));
        }
        CondaBox::with(Tool::Standin, &standin, &env)
    }

    /// The real conda, or `None` after recording the skip.
    pub fn real() -> Option<CondaBox> {
        let Some(conda) = real_conda() else {
            skip(
                "no real conda: set KERNELS_TEST_CONDA (scripts/test.sh bootstraps one when the \
                 conda lab is beside the checkout)",
            );
            return None;
        };
        Some(CondaBox::with(Tool::Real, &conda, ""))
    }

    /// The box for `tool`: the stand-in, or the real conda (`None`: skipped).
    pub fn of(tool: Tool) -> Option<CondaBox> {
        match tool {
            Tool::Standin => Some(CondaBox::standin(None)),
            Tool::Real => CondaBox::real(),
        }
    }

    fn with(tool: Tool, exe: &Path, env: &str) -> CondaBox {
        let mut sb = Sandbox::new();
        let root = sb.root().join("conda");
        // Laid out as an installer leaves a root (conda-meta, condabin): that is how it is
        // known as the base environment.
        std::fs::create_dir_all(root.join("conda-meta")).unwrap();
        std::fs::create_dir_all(root.join("condabin")).unwrap();
        std::fs::write(root.join("conda-meta/history"), "").unwrap();
        let inner = root.join("bin/conda-tool");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::os::unix::fs::symlink(exe, &inner).unwrap();
        let log = sb.root().join("conda.log");
        let wrapper = recorder(&root.join("bin"), "conda", &inner, &log, env);
        sb.set("KERNELS_CONDA", &wrapper);
        CondaBox {
            sb,
            root,
            log,
            tool,
        }
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

/// One `#[test]` per tool for a test body.
macro_rules! both_tools {
    ($body:ident: $standin:ident, $real:ident) => {
        #[test]
        fn $standin() {
            if let Some(cb) = CondaBox::of(Tool::Standin) {
                $body(cb);
            }
        }
        #[test]
        fn $real() {
            if let Some(cb) = CondaBox::of(Tool::Real) {
                $body(cb);
            }
        }
    };
}

both_tools!(one_create_then_nothing_then_only_what_is_missing:
    conda_standin_one_create_then_nothing_then_only_what_is_missing,
    conda_real_one_create_then_nothing_then_only_what_is_missing);

/// Create, boot, re-run, converge, a failing add beside it, `envs`, `doctor --boot`, and
/// `remove --with-env`: one environment for the whole lifecycle (a real create costs seconds).
fn one_create_then_nothing_then_only_what_is_missing(cb: CondaBox) {
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
    let doc = add_json(sb, &["c1", "-p", "numpy"]);
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
            "conda create -p {p} --json --yes python pip ipykernel numpy"
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

    // A real environment boots, activated (the stand-in's has no working kernel).
    if cb.tool == Tool::Real && test_python().is_some() {
        let report = run_kernel(
            sb,
            "c1",
            "import json, os, sys; print(json.dumps([sys.executable, os.environ['PATH'].split(os.pathsep)[0], os.environ.get('CONDA_PREFIX')]))",
            &[],
        );
        assert_eq!(report["status"], "ok", "{report:#}");
        let seen: Value = serde_json::from_str(report["stdout"].as_str().unwrap().trim()).unwrap();
        assert_eq!(seen[0], format!("{p}/bin/python"));
        assert_eq!(seen[1], format!("{p}/bin"));
        assert_eq!(seen[2], p);
        let out = sb.kernels(&["doctor", "--boot", "c1"]);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        assert!(cb.take_calls().is_empty(), "doctor runs no conda");
    }

    // The same request again: zero tool calls, unchanged.
    let doc = add_json(sb, &["c1", "-p", "numpy"]);
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

    unknown_package_leaves_nothing_and_keeps_what_existed(&cb);

    // `kernels envs` lists the environment, from disk, with its kernel.
    let out = sb.kernels(&["envs", "--json"]);
    out.ok();
    let doc = out.json();
    let c1 = doc["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["prefix"] == p.as_str())
        .unwrap_or_else(|| panic!("{doc:#}"))
        .clone();
    assert_eq!(c1["ipykernel"], true, "{c1}");
    assert_eq!(c1["kernels"], serde_json::json!(["c1"]), "{c1}");
    assert!(cb.take_calls().is_empty(), "envs runs no conda");

    // The conda root itself is never removed.
    let out = sb.kernels(&["remove", "c1", "--with-env", "--yes"]);
    out.ok();
    assert!(!prefix.exists());
    assert!(!sb.user_kernels().join("c1").exists());
    assert!(cb.root.join("conda-meta/history").is_file());
}

/// A failing add beside an existing environment and kernel: the tool's error names every
/// missing package, without raw JSON; nothing is left of the new env and the old is intact.
fn unknown_package_leaves_nothing_and_keeps_what_existed(cb: &CondaBox) {
    let sb = &cb.sb;
    let kept_env = fingerprint(&cb.env("c1"));
    let kept_kernel = fingerprint(&sb.user_kernels());
    cb.take_calls();

    let out = sb.kernels(&["add", "c4", "-p", "nonexistent-pkg"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("packages not found in the configured channels: nonexistent-pkg"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("exception_name"),
        "raw JSON: {}",
        out.stderr
    );
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
    cb.take_calls();
}

both_tools!(never_creates_over_an_existing_env:
    conda_standin_never_creates_over_an_existing_env,
    conda_real_never_creates_over_an_existing_env);

fn never_creates_over_an_existing_env(cb: CondaBox) {
    let sb = &cb.sb;
    // A conda environment that exists (empty, made by hand), holding a file of its own.
    let prefix = cb.env("c2");
    std::fs::create_dir_all(prefix.join("conda-meta")).unwrap();
    std::fs::write(prefix.join("conda-meta/history"), "").unwrap();
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

    // The conda root (base) is protected: even a kernel claiming to have created it cannot
    // take it along; refused (exit 3) before any tool runs.
    sb.write_spec(
        &sb.user_kernels(),
        "rootk",
        &serde_json::json!({"argv": [cb.root.join("bin/python"), "-m", "ipykernel_launcher",
                                     "-f", "{connection_file}"],
            "display_name": "Root", "language": "python",
            "metadata": {"kernels": {"managed": true, "env": cb.root, "env_created": true,
              "backend": "conda", "activation": {"method": "computed", "vars": []},
              "source": "add"}}})
        .to_string(),
    );
    let out = sb.kernels(&["remove", "rootk", "--with-env"]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(cb.root.join("conda-meta/history").is_file());
    assert!(cb.take_calls().is_empty());
}

both_tools!(r_on_a_channel_without_r_names_every_missing_package:
    conda_standin_r_on_a_channel_without_r_names_every_missing_package,
    conda_real_r_on_a_channel_without_r_names_every_missing_package);

fn r_on_a_channel_without_r_names_every_missing_package(cb: CondaBox) {
    let sb = &cb.sb;
    let out = sb.kernels(&["add", "rk", "--language", "r"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    // One cause line names every package conda reports missing, in a few lines in all.
    let named = out
        .stderr
        .lines()
        .find(|l| l.contains("packages not found"))
        .unwrap_or_default();
    assert!(
        named.contains("r-base") && named.contains("r-irkernel"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.lines().count() <= 9, "{}", out.stderr);
    assert!(out.stderr.contains("full output: "), "{}", out.stderr);
    assert!(!out.stderr.contains('{'), "raw JSON: {}", out.stderr);
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
    assert!(!cb.env("rk").exists());
    assert!(!sb.user_kernels().join("rk").exists());
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
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 130, not the stand-in's own end after 30 s: the interrupt stopped it.
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!cb.env("slow").exists());
    assert!(!sb.user_kernels().join("slow").exists());
    assert_eq!(fingerprint(&before), kept);
    // The stand-in was stopped too (its process group got the signal).
    let calls = cb.take_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
}

/// `-f environment.yml` that leaves out the kernel package: one create from the file, then
/// one install of what the environment lacks, from the request's channels, by the same tool
/// (the stand-in ignores the file, so the environment it makes has no Python yet).
#[test]
fn conda_standin_environment_file_gets_its_kernel_package_in_one_more_call() {
    let cb = CondaBox::standin(None);
    let sb = &cb.sb;
    let p = cb.env("ef").display().to_string();
    let file = sb.root().join("environment.yml");
    std::fs::write(&file, "name: ef\ndependencies:\n  - numpy\n").unwrap();
    let file_arg = file.display().to_string();
    let out = sb.kernels(&["add", "ef", "-f", &file_arg, "-c", "conda-forge", "--json"]);
    out.ok();
    let doc = out.json();
    let (status, mut steps) = status_and_steps(&doc);
    steps.sort();
    assert_eq!(status, "create");
    assert_eq!(steps, ["create_env", "install_packages", "write_kernel"]);
    assert_eq!(
        cb.take_calls(),
        [
            format!("conda create -p {p} --json --yes -c conda-forge --file {file_arg}"),
            format!("conda install -p {p} --json --yes -c conda-forge python pip ipykernel"),
        ]
    );
    assert!(
        out.stderr.contains("Installing python pip ipykernel into"),
        "{}",
        out.stderr
    );
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(sb.user_kernels().join("ef/kernel.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(spec["argv"][0], format!("{p}/bin/python"));
    assert_eq!(spec["metadata"]["kernels"]["env_created"], true);
}

/// `apply --for-user USER` as root with the real conda: everything in USER's home is USER's
/// (`find ~USER ! -user USER` is empty), and USER can install into the kernel it made.
#[test]
fn conda_real_apply_for_user_leaves_a_home_the_user_owns_and_can_extend() {
    let Some(cb) = CondaBox::real() else {
        return;
    };
    let tools = ["useradd", "userdel", "runuser"];
    if !kernelspec::running_as_root() || !tools.iter().all(|t| crate::common::have(t)) {
        return skip("needs root, useradd, userdel and runuser (.ci/run runs as root)");
    }
    let (_guard, name, uid, _gid, home) = super::apply::throwaway_user("kc");
    let sb = &cb.sb;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(sb.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(&cb.log, "").unwrap();
    std::fs::set_permissions(&cb.log, std::fs::Permissions::from_mode(0o666)).unwrap();
    let file = sb.root().join("kernels.toml");
    std::fs::write(&file, "[[kernel]]\nname = \"cu\"\nbackend = \"conda\"\n").unwrap();
    let out = sb.kernels(&["apply", file.to_str().unwrap(), "--for-user", &name]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let spec = home.join(".local/share/jupyter/kernels/cu/kernel.json");
    assert!(spec.is_file(), "{}", out.stderr);
    let not_theirs = super::apply::not_owned_by(&home, uid);
    assert!(
        not_theirs.is_empty(),
        "not owned by {name}: {not_theirs:#?}"
    );

    let install = crate::common::run(
        sb.command("runuser")
            .args(["-u", &name, "--"])
            .arg(crate::common::kernels_bin())
            .args(["install", "cu", "numpy"])
            .env("HOME", &home),
    );
    assert_eq!(
        install.code, 0,
        "kernels install as {name}:\n{}\n{}",
        install.stdout, install.stderr
    );
    let not_theirs = super::apply::not_owned_by(&home, uid);
    assert!(
        not_theirs.is_empty(),
        "not owned by {name}: {not_theirs:#?}"
    );
}

/// A non-root user whose conda root `envs/` is read-only (the compute-instance layout):
/// conda falls back to `~/.conda/envs`, and add, list, envs and remove all find it there.
#[test]
fn conda_real_non_root_user_gets_home_conda_envs() {
    let Some(cb) = CondaBox::real() else {
        return;
    };
    if !kernelspec::running_as_root() {
        return skip("needs root to run kernels as another user (.ci/run runs as root)");
    }
    let sb = &cb.sb;
    // The user `nobody` owns the sandbox home; the conda root stays root's (read-only to it).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(sb.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(&cb.log, "").unwrap();
    std::fs::set_permissions(&cb.log, std::fs::Permissions::from_mode(0o666)).unwrap();
    let chown = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(sb.home())
        .status()
        .unwrap();
    assert!(chown.success());
    let as_user = |args: &[&str]| {
        crate::common::run(
            sb.command("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(crate::common::kernels_bin())
                .args(args),
        )
    };
    let prefix = sb.home().join(".conda/envs/nr");
    let out = as_user(&["add", "nr"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        prefix.join("conda-meta/history").is_file(),
        "{}",
        out.stderr
    );
    assert!(!cb.env("nr").exists());

    let out = as_user(&["list", "--json"]);
    out.ok();
    assert!(out.stdout.contains("\"nr\""), "{}", out.stdout);
    let out = as_user(&["envs", "--json"]);
    out.ok();
    assert!(
        out.stdout
            .contains(&format!("{:?}", prefix.display().to_string())),
        "{}",
        out.stdout
    );
    let out = as_user(&["remove", "nr", "--with-env", "--yes"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(!prefix.exists());
    assert!(!sb.user_kernels().join("nr").exists());
}

both_tools!(apply_creates_then_converges_conda_kernels:
    conda_standin_apply_creates_then_converges_conda_kernels,
    conda_real_apply_creates_then_converges_conda_kernels);

/// `kernels apply` with a conda kernel: one create, then nothing, then one install of only
/// what the file added.
fn apply_creates_then_converges_conda_kernels(cb: CondaBox) {
    let sb = &cb.sb;
    let file = sb.root().join("kernels.toml");
    let write = |packages: &str| {
        std::fs::write(
            &file,
            format!(
                "version = 1\n\n[[kernel]]\nname = \"ap1\"\nbackend = \"conda\"\npackages = [{packages}]\n"
            ),
        )
        .unwrap()
    };
    let f = file.to_str().unwrap();
    let p = cb.env("ap1").display().to_string();
    write("\"numpy\"");

    let out = sb.kernels(&["apply", f, "--check"]);
    assert_eq!(out.code, 4, "{}\n{}", out.stdout, out.stderr);
    assert!(cb.take_calls().is_empty());

    let out = sb.kernels(&["apply", f]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        cb.take_calls(),
        [format!(
            "conda create -p {p} --json --yes python pip ipykernel numpy"
        )]
    );
    assert!(sb.user_kernels().join("ap1/kernel.json").is_file());

    let out = sb.kernels(&["apply", f, "--check"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let out = sb.kernels(&["apply", f]);
    out.ok();
    assert!(cb.take_calls().is_empty());

    write("\"numpy\", \"pandas\"");
    let out = sb.kernels(&["apply", f]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        cb.take_calls(),
        [format!("conda install -p {p} --json --yes pandas")]
    );
    let out = sb.kernels(&["apply", f, "--check"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
}
