//! Integration tests of the `kernelspec` crate (one test binary).
#![allow(clippy::unwrap_used)]

#[path = "../../../tests/common/skip.rs"]
mod skip;
mod suite;
