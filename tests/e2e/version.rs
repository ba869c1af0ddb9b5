//! `kernels --version`: a parseable first line, then the build (commit, target, glibc floor,
//! backends) that bug reports carry. The floor is cross-checked against binutils' own reading of the
//! binary, the commit against git.

use std::path::Path;
use std::process::Command;

use crate::common::{kernels_bin, run, Sandbox};

/// `key: value` of the line starting with `key: `.
fn field<'a>(text: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}: ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no `{key}:` line in:\n{text}"))
}

#[test]
fn version_says_the_version_then_the_build() {
    let sb = Sandbox::new();
    let long = sb.kernels(&["--version"]);
    long.ok();
    let lines: Vec<&str> = long.stdout.lines().collect();
    // The first line is what scripts parse, and exactly what `-V` prints.
    let first = format!("kernels {}", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        lines.first().copied(),
        Some(first.as_str()),
        "{}",
        long.stdout
    );
    let short = sb.kernels(&["-V"]);
    short.ok();
    assert_eq!(short.stdout, format!("{first}\n"));
    assert_eq!(
        lines.len(),
        5,
        "version, commit, target, glibc, backends:\n{}",
        long.stdout
    );
    assert!(long.stderr.is_empty(), "{}", long.stderr);

    let target = field(&long.stdout, "target");
    assert!(
        target.starts_with(std::env::consts::ARCH) && target.contains(std::env::consts::OS),
        "target `{target}` is not this machine's {} {}",
        std::env::consts::ARCH,
        std::env::consts::OS
    );
    // The backends line is what this test binary was built with: the CLI's features are the
    // test target's.
    let mut backends = vec!["conda", "mamba", "micromamba", "venv"];
    if cfg!(feature = "rattler") {
        backends.push("rattler");
    }
    assert_eq!(field(&long.stdout, "backends"), backends.join(", "));
    let commit = field(&long.stdout, "commit");
    match head_commit() {
        Some((hash, date)) => assert_eq!(commit, format!("{} ({date})", &hash[..12])),
        None => eprintln!("note: not a git checkout; the commit line was not compared"),
    }
}

/// HEAD's hash and date, when the sources are a git checkout of their own.
fn head_commit() -> Option<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["log", "-1", "--format=%H %cs"])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let (hash, date) = text.trim().split_once(' ')?;
    (out.status.success() && hash.len() >= 12).then(|| (hash.to_string(), date.to_string()))
}

#[test]
fn the_reported_glibc_floor_is_the_one_binutils_reads() {
    let sb = Sandbox::new();
    let out = sb.kernels(&["--version"]);
    out.ok();
    let glibc = field(&out.stdout, "glibc");
    if !cfg!(target_env = "gnu") {
        assert!(glibc.starts_with("not needed"), "{glibc}");
        return;
    }
    let Ok(dump) = Command::new("objdump")
        .arg("-T")
        .arg(kernels_bin())
        .output()
    else {
        eprintln!("note: objdump is not installed; the glibc floor was not cross-checked");
        return;
    };
    let dump = String::from_utf8_lossy(&dump.stdout);
    let mut versions: Vec<Vec<u32>> = dump
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .filter_map(|v| v.split('.').map(|n| n.parse().ok()).collect())
        .collect();
    versions.sort();
    let highest = versions.last().expect("objdump -T lists GLIBC_ versions");
    let highest: Vec<String> = highest.iter().map(u32::to_string).collect();
    assert_eq!(glibc, format!("{} or newer", highest.join(".")));
    // The same binary through a symlink (as `pip` and `/usr/local/bin` installs may be).
    let link = sb.root().join("kernels");
    std::os::unix::fs::symlink(kernels_bin(), &link).unwrap();
    let via_link = run(sb.command(&link).arg("--version"));
    assert_eq!(via_link.stdout, out.stdout);
}
