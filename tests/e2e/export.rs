//! `kernels export` round trips: a real kernel is exported, the file recreates it in a clean
//! sandbox (`kernels add -r`, `kernels add -f`, `kernels apply`), and the recreated kernel
//! boots (real jupyter_client) with the same packages importable and installed.
//!
//! venv with the real uv; conda with a REAL conda (`KERNELS_TEST_CONDA`, see [`real_conda`];
//! skipped with a message without one).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::add::{add_json, run_kernel};
use super::run::venv_kernel;
use crate::common::Sandbox;
use crate::require_python;

/// A real conda for the tests of this feature: the one place they look it up (the
/// test-suite's `KERNELS_TEST_CONDA`, else a `conda` on PATH).
pub fn real_conda() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KERNELS_TEST_CONDA") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("conda"))
        .find(|c| c.is_file())
}

/// A sandbox whose `kernels` uses the real conda, with its own package cache (the conda
/// installation itself is only read).
pub fn conda_sandbox(conda: &Path) -> Sandbox {
    let mut sb = Sandbox::new();
    sb.set("KERNELS_CONDA", conda);
    let pkgs = std::env::var("CONDA_PKGS_DIRS")
        .unwrap_or_else(|_| sb.root().join("pkgs").display().to_string());
    sb.set("CONDA_PKGS_DIRS", pkgs);
    sb
}

/// The non-comment lines of an exported file, as a set.
fn body(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// `kernels export NAME ARGS`, asserting success; the file text.
fn export(sb: &Sandbox, name: &str, args: &[&str]) -> String {
    let mut all = vec!["export", name];
    all.extend_from_slice(args);
    let out = sb.kernels(&all);
    out.ok();
    out.stdout
}

/// The recreated kernel boots and imports `module`; returns what it printed.
fn boots_and_imports(sb: &Sandbox, kernel: &str, module: &str) -> String {
    let code = format!("import {module}, sys; print(sys.prefix)");
    let report = run_kernel(sb, kernel, &code, &[]);
    assert_eq!(report["status"], "ok", "{report:#}");
    report["stdout"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[test]
fn venv_export_round_trips_through_requirements_and_kernels_toml() {
    require_python!();
    let Some((sb, _prefix)) = venv_kernel("exv") else {
        return;
    };
    let req = export(&sb, "exv", &[]);
    assert!(req.contains("\nipykernel=="), "{req}");
    assert!(
        req.contains("# Recreate with: kernels add exv --backend venv"),
        "{req}"
    );
    let toml_text = export(&sb, "exv", &["--format", "kernels-toml"]);
    assert!(toml_text.contains("backend = \"venv\""), "{toml_text}");
    assert!(toml_text.contains("RUN_E2E = \"yes\""), "{toml_text}");

    // A clean sandbox (same tools, nothing else): add -r recreates the same packages.
    let (sb2, _) = venv_kernel("other").unwrap();
    let file = sb2.root().join("requirements.txt");
    std::fs::write(&file, &req).unwrap();
    let p2 = sb2.root().join("envs/exv2");
    add_json(
        &sb2,
        &[
            "exv",
            "--backend",
            "venv",
            "--prefix",
            p2.to_str().unwrap(),
            "-r",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(
        boots_and_imports(&sb2, "exv", "ipykernel"),
        p2.display().to_string()
    );
    assert_eq!(body(&export(&sb2, "exv", &[])), body(&req));

    // And kernels.toml through apply: same packages, and the kernel's own variable.
    let file = sb2.root().join("kernels.toml");
    std::fs::write(&file, &toml_text).unwrap();
    sb2.kernels(&["remove", "exv", "--yes"]).ok();
    let out = sb2.kernels(&["apply", file.to_str().unwrap()]);
    out.ok();
    boots_and_imports(&sb2, "exv", "ipykernel");
    let again = export(&sb2, "exv", &["--format", "kernels-toml"]);
    let pip_line = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("pip = "))
            .map(str::to_owned)
    };
    assert_eq!(pip_line(&again), pip_line(&toml_text));
    assert!(again.contains("RUN_E2E = \"yes\""), "{again}");

    // An unknown kernel: exit 1 with a hint.
    let out = sb.kernels(&["export", "nope"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("hint"), "{}", out.stderr);
}

#[test]
fn conda_export_round_trips_through_environment_yml() {
    require_python!();
    let Some(conda) = real_conda() else {
        crate::common::skip("no real conda (set KERNELS_TEST_CONDA)");
        return;
    };
    let sb = conda_sandbox(&conda);
    let p = sb.root().join("envs/cx");
    add_json(
        &sb,
        &[
            "cx",
            "--backend",
            "conda",
            "--prefix",
            p.to_str().unwrap(),
            "-p",
            "numpy",
        ],
    );
    let yml = export(&sb, "cx", &[]);
    assert!(yml.contains("  - \"numpy\""), "{yml}");
    assert!(yml.contains("  - \"ipykernel\""), "{yml}");
    assert!(yml.contains("channels:\n  - "), "{yml}");
    assert!(yml.contains("  - \"python=3."), "{yml}");

    let sb2 = conda_sandbox(&conda);
    let file = sb2.root().join("environment.yml");
    std::fs::write(&file, &yml).unwrap();
    let p2 = sb2.root().join("envs/cx");
    add_json(
        &sb2,
        &[
            "cx",
            "--backend",
            "conda",
            "--prefix",
            p2.to_str().unwrap(),
            "-f",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(
        boots_and_imports(&sb2, "cx", "numpy"),
        p2.display().to_string()
    );
    let again = export(&sb2, "cx", &[]);
    assert_eq!(body(&again), body(&yml), "{again}");
}
