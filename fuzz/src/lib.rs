//! Fuzz targets for the parsers that read untrusted input, shared by the stable driver
//! (`src/main.rs`) and the libFuzzer targets (`libfuzzer/`, for `cargo fuzz`).

pub mod targets;

/// A target: `Ok(shape)` (a short string describing what the input did, which the stable
/// driver uses to keep interesting inputs), or `Err(the invariant that broke)`.
pub type Target = fn(&[u8]) -> Result<String, String>;

/// Every target, by name.
pub const TARGETS: &[(&str, Target)] = &[
    ("spec", targets::spec),
    ("name", targets::name),
    ("argv", targets::argv),
    ("policy", targets::policy),
];

/// Runs a target for a libFuzzer-style harness: a broken invariant is a panic.
pub fn check(target: Target, data: &[u8]) {
    if let Err(why) = target(data) {
        panic!("invariant broken: {why}");
    }
}
