//! End-to-end tests of the `kernels` binary: one test binary, a sandbox per test (its own HOME,
//! Jupyter dirs and PATH), real Python, pip, uv, ipykernel and jupyter_client where the machine
//! has them (`KERNELS_TEST_PYTHON` names an interpreter with jupyter_client and ipykernel;
//! tests that need it print why they skip when it is unset).

mod common;
mod e2e;
