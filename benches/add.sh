#!/usr/bin/env bash
# Benchmark of `kernels add` and `kernels install` (release binary, warm caches), printing in
# one run the four comparisons with the manual recipes (medians, ratios and targets; see
# bench_add.py):
#   * no conda, no uv (kernels' own uv)  vs python -m venv + pip + ipykernel install   >= 5x
#   * a real conda                       vs the 4-step recipe (and one create, reported) >= 1.3x
#   * --backend rattler                  vs conda create python=3.11 ipykernel + register >= 4x
#                                           (warm package cache; cold reported)
#   * uv                                 vs uv venv + uv pip + ipykernel install          >= 2x
#   * kernels install NAME numpy         vs E/bin/pip install numpy in the same venv      >= 2x
# plus a satisfied re-run (< 50 ms), kernels envs over 30 environments (< 20 ms), and the
# kernel start latency of the spec kernels writes vs a plain ipykernel spec.
#
# Needs: python3 (or KERNELS_TEST_PYTHON, whose venv also provides jupyter_client and uv).
# The real conda: KERNELS_BENCH_CONDA, else the offline conda lab (CONDA_LAB, default
# ../shared/conda-lab beside the checkout) bootstrapped once into
# ${XDG_CACHE_HOME:-~/.cache}/kernels-bench/conda-root (~75 s the first time); without
# either the conda row says it was skipped.
# Everything happens in a throw-away HOME; only the uv/pip caches are the user's.
# Usage: benches/add.sh [RUNS]      (RUNS of each slow case; default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}

target_dir=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet
kernels="$target_dir/release/kernels"
# The rattler row runs when the binary has the backend (the cargo feature `rattler`, on by
# default; `kernels --version` lists the backends built in).
rattler=""
if "$kernels" --version | grep -q '^backends: .*rattler'; then rattler="--rattler"; fi

test_python=${KERNELS_TEST_PYTHON:-}
if [ -z "$test_python" ] && [ -x .ci-venv/bin/python ]; then test_python=.ci-venv/bin/python; fi
if [ -n "$test_python" ]; then
    base_python=$("$test_python" -c 'import sys; print(sys._base_executable)')
    uv="$(dirname "$test_python")/uv"
else
    base_python=$(python3 -c 'import sys; print(sys.executable)')
    uv=""
fi
if [ -z "$uv" ] || [ ! -x "$uv" ]; then uv=$(command -v uv || true); fi
harness_python=${test_python:-$base_python}

conda=${KERNELS_BENCH_CONDA:-}
lab=${CONDA_LAB:-../shared/conda-lab}
if [ -z "$conda" ] && [ -x "$lab/bootstrap.sh" ]; then
    root="${XDG_CACHE_HOME:-$HOME/.cache}/kernels-bench/conda-root"
    echo "== real conda: bootstrapping the conda lab into $root (reused when ready)"
    conda=$("$lab/bootstrap.sh" "$root" | tail -n 1) || conda=""
fi

echo "== kernels $("$kernels" --version | head -n 1 | cut -d' ' -f2) ($kernels)"
status=0
"$harness_python" benches/bench_add.py --kernels "$kernels" --python "$base_python" \
    ${uv:+--uv "$uv"} ${conda:+--conda "$conda"} $rattler --runs "$runs" || status=$?

if [ -n "$test_python" ] && "$test_python" -c 'import jupyter_client' 2>/dev/null; then
    echo
    home=$(mktemp -d)
    trap 'rm -rf "$home"' EXIT
    env HOME="$home" PATH=/usr/bin:/bin KERNELS_PYTHON="$base_python" ${uv:+KERNELS_UV="$uv"} \
        UV_CACHE_DIR="${UV_CACHE_DIR:-$HOME/.cache/uv}" PIP_CACHE_DIR="${PIP_CACHE_DIR:-$HOME/.cache/pip}" \
        ${SSL_CERT_FILE:+SSL_CERT_FILE="$SSL_CERT_FILE"} \
        "$kernels" add latency --backend venv -q
    env HOME="$home" "$test_python" benches/kernel_start.py latency --runs 10
else
    echo "(kernel start latency skipped: KERNELS_TEST_PYTHON with jupyter_client is not set)"
fi
exit $status
