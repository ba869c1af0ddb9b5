#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, on the stable toolchain.
# Usage: fuzz/run.sh SECONDS [spec|name|argv|policy ...]
# Exit status: 0 when no input broke a target; 1 otherwise (the input is in fuzz/artifacts/).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
seconds="${1:?usage: fuzz/run.sh SECONDS [TARGET...]}"
shift || true
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$here/target}"
cargo build --quiet --release --manifest-path "$here/Cargo.toml"
exec "$CARGO_TARGET_DIR/release/kernels-fuzz" --seconds "$seconds" \
    --corpus "$here/../tests/fixtures/hostile" \
    --corpus "$here/../crates/kernelspec/tests/fixtures" \
    --artifacts "$here/artifacts" "$@"
