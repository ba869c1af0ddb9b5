//! Skips that are counted, never silent passes.
//!
//! libtest has no "skipped" outcome: a test that returns early reads as passed. So a test that
//! cannot run here calls [`skip`] with the reason, then returns:
//!
//! ```ignore
//! let Some(conda) = real_conda() else {
//!     return skip("no real conda: set KERNELS_TEST_CONDA (scripts/test.sh bootstraps one)");
//! };
//! ```
//!
//! (or `require!(option, "reason")`, which does both). [`skip`]
//!
//! - prints `skipped: <reason>` on stderr;
//! - appends `<test name>\t<reason>` to the file named by `KERNELS_TEST_SKIP_LOG`, from which
//!   `scripts/test.sh` prints every skip and the closing `N passed, N failed, N skipped` line;
//! - under `KERNELS_TEST_STRICT=1` (set by `.ci/run`, which provides every tool the tests use)
//!   fails the test instead: in CI a skip is a failure.
//!
//! A variant that needs a tool no machine here has (a real mamba, say) is not a skip but an
//! opt-in: [`opt_in`] says how to run it and is not counted.
//!
//! This file is shared by every test crate of the workspace (`#[path]` includes it), so it
//! depends on nothing but std.

#![allow(dead_code)]

use std::io::Write;

/// Names the file that collects skips (one `<test>\t<reason>` line each).
pub const SKIP_LOG_VAR: &str = "KERNELS_TEST_SKIP_LOG";
/// When `1`, a skip fails the test.
pub const STRICT_VAR: &str = "KERNELS_TEST_STRICT";

/// The running test's name (libtest names each test's thread after it).
fn test_name() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| match s.rsplit_once('-') {
            Some((krate, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => krate.to_owned(),
            _ => s,
        })
        .unwrap_or_default();
    let thread = std::thread::current().name().unwrap_or("?").to_owned();
    format!("{exe}::{thread}")
}

/// True when skips fail the run (`KERNELS_TEST_STRICT=1`).
pub fn strict() -> bool {
    std::env::var(STRICT_VAR).is_ok_and(|v| v == "1")
}

/// Records that the calling test is skipped and why (see the module docs); the caller then
/// returns. Under strict mode this panics, failing the test.
pub fn skip(reason: &str) {
    let name = test_name();
    let reason = reason.replace(['\n', '\t'], " ");
    if strict() {
        panic!("{name} would skip, which {STRICT_VAR}=1 forbids: {reason}");
    }
    eprintln!("skipped: {reason}");
    if let Some(log) = std::env::var_os(SKIP_LOG_VAR) {
        let line = format!("{name}\t{reason}\n");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log);
        // One write per line with O_APPEND: lines from parallel tests do not interleave.
        if let Err(e) = file.and_then(|mut f| f.write_all(line.as_bytes())) {
            panic!("cannot record the skip in {}: {e}", log.to_string_lossy());
        }
    }
}

/// Says that an opt-in variant did not run and how to run it. Not a skip: nothing here
/// provides the tool, so there is nothing CI could have run.
pub fn opt_in(what: &str, how: &str) {
    eprintln!("not run (opt-in): {what}; {how}");
}

/// `require!(option, "reason")`: the value inside `option`, or records the skip and returns
/// from the calling test.
#[macro_export]
macro_rules! require {
    ($opt:expr, $($reason:tt)+) => {
        match $opt {
            Some(v) => v,
            None => {
                $crate::skip::skip(&format!($($reason)+));
                return;
            }
        }
    };
}

/// For a test that must run as an ordinary user (e.g. to provoke permission errors, which root
/// never gets): as root, runs the calling test again as `nobody` (uid 65534, through
/// `setpriv`) and fails if that run fails; returns `true` when it did so and the caller should
/// return. Not root: returns `false` and the caller goes on. Root without `setpriv`: a skip.
pub fn rerun_unprivileged(running_as_root: bool) -> bool {
    if !running_as_root {
        return false;
    }
    let name = std::thread::current().name().unwrap_or_default().to_owned();
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&exe)
        .args([&name, "--exact", "--test-threads=1"])
        .env_remove(SKIP_LOG_VAR)
        .env("TMPDIR", "/tmp")
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            skip(&format!(
                "running as root, and `setpriv` to rerun as an ordinary user is missing ({e})"
            ));
            return true;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} as uid 65534 failed\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}
