//! Integration tests of the `kernelspec` crate (one test binary).
#![allow(clippy::unwrap_used)]

mod suite;
