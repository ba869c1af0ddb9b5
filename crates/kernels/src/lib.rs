//! The product logic of `kernels`.
//!
//! Data flows one way: a request (from the CLI or a `kernels.toml`) and a read-only snapshot
//! of the machine go into the pure planner; the plan is checked against the protection policy;
//! apply runs its steps under a lock, journaling each so a failure or an interrupt undoes
//! exactly what this run created.

// Tests may unwrap; library code may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod doctor;
pub mod for_user;
pub mod policy;
pub mod prune;
pub mod rebind;
pub mod wrappers;
