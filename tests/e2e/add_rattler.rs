//! `kernels add --backend rattler` (built with the cargo feature `rattler`) against the real
//! conda lab: kernels solves and links the environment itself, with no conda on its search
//! path, from the lab's local channel named in a sandbox `~/.condarc`. Then the REAL conda
//! (`KERNELS_TEST_CONDA`) lists, inspects and extends it, kernels extends it again through
//! rattler, and the kernel boots activated.
//!
//! The channel is the lab's: it lives beside the conda root as `<root>-channel`
//! (scripts/test.sh bootstraps both). Without a lab the test records that it skipped.

use std::path::PathBuf;

use serde_json::Value;

use super::add::{add_json, run_kernel, status_and_steps};
use super::add_conda::real_conda;
use crate::common::{run, skip, test_python, Sandbox};

/// The real conda and the lab channel beside its root.
fn lab() -> Option<(PathBuf, PathBuf)> {
    let Some(conda) = real_conda() else {
        skip(
            "no real conda: set KERNELS_TEST_CONDA (scripts/test.sh bootstraps one when the \
             conda lab is beside the checkout)",
        );
        return None;
    };
    let root = conda.parent()?.parent()?.to_path_buf();
    let mut name = root.file_name()?.to_os_string();
    name.push("-channel");
    let channel = root.with_file_name(name);
    if !channel.join("noarch/repodata.json").is_file() {
        skip(&format!(
            "no lab channel beside the conda root: {} has no noarch/repodata.json",
            channel.display()
        ));
        return None;
    }
    Some((conda, channel))
}

/// `conda ARGS --json` in the sandbox, as the user would run it.
fn conda_json(sb: &Sandbox, conda: &PathBuf, args: &[&str]) -> Value {
    let out = run(sb.command(conda).args(args).arg("--json"));
    assert_eq!(
        out.code, 0,
        "conda {args:?}:\n{}\n{}",
        out.stdout, out.stderr
    );
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("{list:#}"))
        .iter()
        .map(|p| p["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn rattler_real_env_is_condas_own_and_boots_activated() {
    let Some((conda, channel)) = lab() else {
        return;
    };
    let sb = Sandbox::new();
    // kernels finds no conda (the sandbox hides every one); the channel and the package
    // cache come from the user's .condarc, which the real conda reads too.
    let pkgs = sb.root().join("pkgs");
    std::fs::write(
        sb.home().join(".condarc"),
        format!(
            "channels:\n  - file://{}\ndefault_channels: []\npkgs_dirs:\n  - {}\n",
            channel.display(),
            pkgs.display()
        ),
    )
    .unwrap();
    let prefix = sb.home().join(".conda/envs/r1");
    let p = prefix.display().to_string();

    // Dry run: the solved packages, nothing made.
    let out = sb.kernels(&[
        "add",
        "r1",
        "--backend",
        "rattler",
        "--python",
        "3.11",
        "--dry-run",
    ]);
    out.ok();
    assert!(
        out.stdout.contains("create the environment with rattler"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("solved in-process: "), "{}", out.stdout);
    assert!(out.stdout.contains("+ python=3.11."), "{}", out.stdout);
    assert!(out.stdout.contains("+ ipykernel="), "{}", out.stdout);
    assert!(!prefix.exists());

    let doc = add_json(&sb, &["r1", "--backend", "rattler", "--python", "3.11"]);
    assert_eq!(
        status_and_steps(&doc),
        (
            "create".into(),
            vec!["create_env".into(), "write_kernel".into()]
        )
    );
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(sb.user_kernels().join("r1/kernel.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(spec["argv"][0], format!("{p}/bin/python"));
    assert_eq!(spec["env"]["CONDA_PREFIX"], p);
    assert_eq!(spec["metadata"]["kernels"]["backend"], "rattler");
    assert!(
        pkgs.join("python-3.11.7-0").is_dir(),
        "linked from conda's pkgs_dirs"
    );

    // conda lists it, inspects it and extends it.
    let listed = conda_json(&sb, &conda, &["env", "list"]);
    assert!(
        listed["envs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == p.as_str()),
        "{listed:#}"
    );
    let have = names(&conda_json(&sb, &conda, &["list", "-p", &p]));
    for n in ["python", "pip", "ipykernel"] {
        assert!(have.iter().any(|h| h == n), "{n} not in {have:?}");
    }
    assert!(!have.iter().any(|h| h == "numpy"));
    let installed = conda_json(&sb, &conda, &["install", "-p", &p, "--yes", "numpy"]);
    assert_eq!(installed["success"], true, "{installed:#}");
    let have = names(&conda_json(&sb, &conda, &["list", "-p", &p]));
    assert!(have.iter().any(|h| h == "numpy"), "{have:?}");
    assert!(
        have.iter().any(|h| h == "ipykernel"),
        "conda kept what was asked for: {have:?}"
    );

    // kernels extends it with the tool that made it, rattler, even where a conda is found;
    // rattler solves against what is installed (numpy from conda stays) and links pandas;
    // conda sees the result.
    let out = run(sb
        .command(crate::common::kernels_bin())
        .env("KERNELS_CONDA", &conda)
        .args(["install", "r1", "pandas", "--dry-run"]));
    out.ok();
    assert!(
        out.stdout
            .contains("with rattler (solved and linked in-process)"),
        "{}",
        out.stdout
    );
    sb.kernels(&["install", "r1", "pandas"]).ok();
    let have = names(&conda_json(&sb, &conda, &["list", "-p", &p]));
    for n in ["pandas", "numpy", "ipykernel"] {
        assert!(have.iter().any(|h| h == n), "{n} not in {have:?}");
    }

    // Exported for kernels apply, it is recreated with the backend that made it.
    let out = sb.kernels(&["export", "r1", "--format", "kernels-toml"]);
    out.ok();
    assert!(
        out.stdout.contains("backend = \"rattler\""),
        "{}",
        out.stdout
    );

    // The kernel boots, activated, and sees what conda and kernels added.
    if test_python().is_some() {
        let report = run_kernel(
            &sb,
            "r1",
            "import json, os, sys, numpy, pandas; print(json.dumps([sys.executable, os.environ['PATH'].split(os.pathsep)[0], os.environ.get('CONDA_PREFIX')]))",
            &[],
        );
        assert_eq!(report["status"], "ok", "{report:#}");
        let seen: Value = serde_json::from_str(report["stdout"].as_str().unwrap().trim()).unwrap();
        assert_eq!(
            seen,
            serde_json::json!([format!("{p}/bin/python"), format!("{p}/bin"), p])
        );
    } else {
        skip("no test Python (KERNELS_TEST_PYTHON) to boot the kernel with");
    }

    // A package no channel has: the solver says so, with what to do, and nothing is left.
    let out = sb.kernels(&[
        "add",
        "r3",
        "--backend",
        "rattler",
        "-p",
        "kernels-e2e-no-such-package",
    ]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stderr.contains("kernels-e2e-no-such-package")
            && out.stderr.contains("hint: check the package names"),
        "{}",
        out.stderr
    );
    assert!(!sb.home().join(".conda/envs/r3").exists());

    // Never over what is there: a directory with someone's file is refused and kept.
    let occupied = sb.root().join("occupied");
    std::fs::create_dir_all(&occupied).unwrap();
    std::fs::write(occupied.join("notes.txt"), "mine").unwrap();
    let occupied_arg = occupied.display().to_string();
    let out = sb.kernels(&[
        "add",
        "r2",
        "--backend",
        "rattler",
        "--prefix",
        &occupied_arg,
    ]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert_eq!(
        std::fs::read_to_string(occupied.join("notes.txt")).unwrap(),
        "mine"
    );
    assert!(!occupied.join("conda-meta").exists());

    // Removed with its environment, and unregistered from conda's list.
    sb.kernels(&["remove", "r1", "--with-env", "--yes"]).ok();
    assert!(!prefix.exists());
    let registry =
        std::fs::read_to_string(sb.home().join(".conda/environments.txt")).unwrap_or_default();
    assert!(!registry.lines().any(|l| l == p), "{registry}");
}

/// A notebook user (not root) whose conda configuration lists root's package cache first,
/// as conda's default `[<root>/pkgs, ~/.conda/pkgs]` does: the cache root owns is not this
/// user's to write (or lock), so rattler downloads into the user's and the add succeeds.
#[test]
fn rattler_non_root_user_leaves_roots_package_cache_alone() {
    let Some((_conda, channel)) = lab() else {
        return;
    };
    if !kernelspec::running_as_root() {
        return skip("needs root to run kernels as another user (.ci/run runs as root)");
    }
    let sb = Sandbox::new();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(sb.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let roots = sb.root().join("root-pkgs");
    std::fs::create_dir_all(&roots).unwrap();
    let mine = sb.home().join(".conda/pkgs");
    std::fs::write(
        sb.home().join(".condarc"),
        format!(
            "channels:\n  - file://{}\ndefault_channels: []\npkgs_dirs:\n  - {}\n  - {}\n",
            channel.display(),
            roots.display(),
            mine.display()
        ),
    )
    .unwrap();
    let chown = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(sb.home())
        .status()
        .unwrap();
    assert!(chown.success());
    let out = run(sb
        .command("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(crate::common::kernels_bin())
        .args(["add", "rn", "--backend", "rattler", "--python", "3.11"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(sb
        .home()
        .join(".conda/envs/rn/conda-meta/history")
        .is_file());
    assert!(
        mine.join("python-3.11.7-0").is_dir(),
        "downloaded into the user's cache"
    );
    assert_eq!(
        std::fs::read_dir(&roots).unwrap().count(),
        0,
        "root's cache was written"
    );
}
