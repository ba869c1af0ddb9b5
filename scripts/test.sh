#!/usr/bin/env bash
# The whole test suite, as README.md gives it:
#   1. the Python test tools (jupyter_client, ipykernel, jupyter_server and uv from PyPI, into .ci-venv/);
#   2. a real conda for the real-conda tier: KERNELS_TEST_CONDA if set, else one bootstrapped
#      offline into target/conda-lab/ by the conda lab beside the checkout
#      (../shared/conda-lab/bootstrap.sh) when there is one; without either, that tier's tests
#      say they skipped;
#   3. every Rust test of the workspace against the real tools, then every skipped test with
#      its reason and one closing line `N passed, N failed, N skipped`.
# KERNELS_TEST_STRICT=1 (set by .ci/run) turns every skip into a failure. Extra arguments go
# to `cargo test` (e.g. a test name filter). Safe to re-run: the venv and the conda are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

venv="$root/.ci-venv"
python_for_venv=${PYTHON:-python3}
if ! "$venv/bin/python" -c 'import jupyter_client, ipykernel, jupyter_server' >/dev/null 2>&1 || [ ! -x "$venv/bin/uv" ]; then
    echo "==> creating $venv with jupyter_client, ipykernel, jupyter_server and uv from PyPI" >&2
    rm -rf "$venv"
    "$python_for_venv" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        jupyter_client ipykernel jupyter_server uv
fi
# The venv's physical path: Python reports its sys.prefix resolved, and tests compare paths.
venv=$(cd "$venv" && pwd -P)
export KERNELS_TEST_PYTHON="$venv/bin/python"
export PATH="$venv/bin:$PATH"

echo "==> test tools: $("$venv/bin/python" -c 'import jupyter_client, ipykernel, sys; print("python", sys.version.split()[0], "jupyter_client", jupyter_client.__version__, "ipykernel", ipykernel.__version__)'), $("$venv/bin/uv" --version)" >&2
if command -v R >/dev/null 2>&1; then echo "==> R: $(R --version | head -1)" >&2; else echo "==> R: not installed (the R kernel test will say it skipped)" >&2; fi

# The real conda. Its package cache is warmed once with everything the tests install, so that
# tests creating environments in parallel only link from it.
lab="$root/../shared/conda-lab"
if [ -z "${KERNELS_TEST_CONDA:-}" ] && [ -x "$lab/bootstrap.sh" ]; then
    conda_root="$root/target/conda-lab/root"
    echo "==> real conda: bootstrapping (once, ~75 s) or reusing $conda_root" >&2
    mkdir -p "$root/target/conda-lab"
    KERNELS_TEST_CONDA=$("$lab/bootstrap.sh" "$conda_root")
    if [ ! -f "$conda_root/.warm" ]; then
        warm=$(mktemp -d)
        (cd "$warm" && HOME=$warm "$KERNELS_TEST_CONDA" create -q -y -p "$warm/env" \
            python pip ipykernel numpy pandas >/dev/null)
        rm -rf "$warm"
        : >"$conda_root/.warm"
    fi
    export KERNELS_TEST_CONDA
fi
if [ -n "${KERNELS_TEST_CONDA:-}" ]; then
    echo "==> real conda: $KERNELS_TEST_CONDA ($(HOME=$(mktemp -d) "$KERNELS_TEST_CONDA" --version 2>&1))" >&2
else
    echo "==> real conda: none (set KERNELS_TEST_CONDA; the real-conda tests will say they skipped)" >&2
fi

# Every skip is written here (tests/common/skip.rs) and counted below.
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
export KERNELS_TEST_SKIP_LOG="$results/skips"
: >"$KERNELS_TEST_SKIP_LOG"

# One release build serves the tests and the benchmarks.
set +e
cargo test --release --workspace --no-fail-fast "$@" 2>&1 | tee "$results/log"
rc=${PIPESTATUS[0]}
set -e

# The summary: libtest counts a skipped test as passed, so skips are taken out of the passes.
sort "$KERNELS_TEST_SKIP_LOG" | awk -F'\t' '{ printf "skipped: %s: %s\n", $1, $2 }'
awk -v skipped="$(wc -l <"$KERNELS_TEST_SKIP_LOG")" -v rc="$rc" '
    /^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) ig += $i } }
    END {
        if (rc != 0 && f == 0) { print "cargo test exited with status " rc " before reporting a failing test (see above)"; f = 1 }
        printf "%d passed, %d failed, %d skipped\n", p - skipped, f, skipped + ig
    }' "$results/log"
exit "$rc"
