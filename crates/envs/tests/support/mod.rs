//! Shared helpers for the envs integration tests: sandboxes and tool discovery.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use envs::HostEnv;

#[path = "../../../../tests/common/skip.rs"]
pub mod skip;
pub use skip::skip;

// Test-only variables: read by these tests and the conda stand-in, never by the product.

/// The interpreter (with jupyter_client and ipykernel) real-tool tests use.
/// Its directory is also where they look for `uv`.
pub const KERNELS_TEST_PYTHON: &str = "KERNELS_TEST_PYTHON";
/// Tests only: a conda-family executable to drive instead of the bundled stand-in.
pub const KERNELS_TEST_CONDA: &str = "KERNELS_TEST_CONDA";
/// Read by the conda stand-in script (not by Rust code): the interpreter that its
/// environments' `bin/python` points at.
pub const KERNELS_STANDIN_PYTHON: &str = "KERNELS_STANDIN_PYTHON";
/// Read by the conda stand-in script (not by Rust code): seconds to sleep inside
/// `create`/`install`, to test interruption.
pub const KERNELS_STANDIN_SLEEP: &str = "KERNELS_STANDIN_SLEEP";

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The real interpreter behind `python3` (resolving version-manager shims, which break
/// under a sandboxed HOME): `KERNELS_TEST_PYTHON` if set, else `sys.executable` of
/// `python3`.
pub fn real_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(KERNELS_TEST_PYTHON) {
        return Some(PathBuf::from(p));
    }
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()?;
    let p = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!p.is_empty()).then(|| PathBuf::from(p))
}

/// A host snapshot for a sandbox: HOME inside `dir`, PATH = the real interpreter's
/// directory then /usr/bin:/bin, caches pointed at the real user caches (a cache only
/// makes installs faster; nothing else of the real home is visible).
pub fn sandbox_host(dir: &Path, python: &Path) -> HostEnv {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let pydir = python.parent().unwrap().display().to_string();
    let mut v: Vec<(String, String)> = vec![
        ("HOME".into(), home.display().to_string()),
        ("PATH".into(), format!("{pydir}:/usr/bin:/bin")),
        ("LANG".into(), "C.UTF-8".into()),
    ];
    let real_home = std::env::var("HOME").unwrap_or_default();
    let uv_cache =
        std::env::var("UV_CACHE_DIR").unwrap_or_else(|_| format!("{real_home}/.cache/uv"));
    let pip_cache =
        std::env::var("PIP_CACHE_DIR").unwrap_or_else(|_| format!("{real_home}/.cache/pip"));
    v.push(("UV_CACHE_DIR".into(), uv_cache));
    v.push(("PIP_CACHE_DIR".into(), pip_cache));
    for k in [
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_CERT",
        "UV_INDEX_URL",
        "SSL_CERT_FILE",
        "https_proxy",
        "HTTPS_PROXY",
    ] {
        if let Ok(val) = std::env::var(k) {
            v.push((k.into(), val));
        }
    }
    HostEnv::from_vars(v)
}
