//! End-to-end tests of the `kernels` binary: one test binary, a sandbox per test (its own HOME,
//! Jupyter dirs and PATH), real Python, pip, uv, ipykernel and jupyter_client where the machine
//! has them (`KERNELS_TEST_PYTHON` names an interpreter with jupyter_client and ipykernel;
//! tests that need it record why they skip when it is unset: see tests/common/skip.rs).

mod common;
mod e2e;
#[path = "common/skip.rs"]
mod skip;
