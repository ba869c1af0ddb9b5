//! Shared helpers: fixture locations.

use std::path::PathBuf;

/// `crates/kernelspec/tests/fixtures`.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

/// The fixture spec dirs of one group (`valid`, `lenient`, `broken`), sorted.
pub fn fixture_dirs(group: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures().join(group))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("kernel.json").is_file())
        .collect();
    dirs.sort();
    dirs
}
