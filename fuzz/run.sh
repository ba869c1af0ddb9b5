#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each.
#
#   fuzz/run.sh SECONDS [spec|name|argv|policy ...]
#
# Engines (FUZZ_ENGINE):
#   stable     (default) the mutation driver in fuzz/src/main.rs; needs only a stable toolchain.
#   libfuzzer  cargo-fuzz (coverage-guided, AddressSanitizer) on fuzz/libfuzzer/; needs
#              `cargo install cargo-fuzz` and nightly, or a stable toolchain with RUSTC_BOOTSTRAP=1
#              (set here when the active toolchain is not nightly).
# Exit status: 0 when no input broke a target; non-zero otherwise (inputs kept in
# fuzz/artifacts/ or fuzz/libfuzzer/artifacts/).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
seconds="${1:?usage: fuzz/run.sh SECONDS [TARGET...]}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(spec name argv policy)

case "${FUZZ_ENGINE:-stable}" in
stable)
    export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$here/target}"
    cargo build --quiet --release --manifest-path "$here/Cargo.toml"
    exec "$CARGO_TARGET_DIR/release/kernels-fuzz" --seconds "$seconds" \
        --corpus "$here/../tests/fixtures/hostile" \
        --corpus "$here/../crates/kernelspec/tests/fixtures" \
        --artifacts "$here/artifacts" "${targets[@]}"
    ;;
libfuzzer)
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "cargo-fuzz is not installed (cargo install cargo-fuzz)" >&2
        exit 2
    fi
    if ! rustc --version | grep -q nightly; then
        export RUSTC_BOOTSTRAP=1
    fi
    export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$here/libfuzzer/target}"
    status=0
    for t in "${targets[@]}"; do
        corpus="$here/libfuzzer/corpus/$t"
        mkdir -p "$corpus"
        # Seed with the hostile corpus on the first run.
        if [ -z "$(ls -A "$corpus")" ]; then
            find "$here/../tests/fixtures/hostile" -name kernel.json -size -64k \
                -exec sh -c 'cp "$1" "$2/seed-$(basename "$(dirname "$1")")"' _ {} "$corpus" \;
        fi
        echo "== libfuzzer $t ($seconds s)"
        log="$(mktemp)"
        if cargo fuzz run --fuzz-dir "$here/libfuzzer" "$t" "$corpus" -- \
            -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
            grep -E '^(Done|stat::number_of_executed_units)' "$log" || true
        else
            status=1
            tail -40 "$log"
        fi
        rm -f "$log"
    done
    exit $status
    ;;
*)
    echo "unknown FUZZ_ENGINE ${FUZZ_ENGINE}" >&2
    exit 2
    ;;
esac
