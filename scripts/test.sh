#!/usr/bin/env bash
# The whole test suite, as README.md gives it: installs its own Python test dependencies
# (jupyter_client, ipykernel and uv from PyPI, into .ci-venv/), then runs every Rust test
# against the real tools. Safe to re-run; the venv is reused when it already has everything.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

venv="$root/.ci-venv"
python_for_venv=${PYTHON:-python3}
if ! "$venv/bin/python" -c 'import jupyter_client, ipykernel' >/dev/null 2>&1 || [ ! -x "$venv/bin/uv" ]; then
    echo "==> creating $venv with jupyter_client, ipykernel and uv from PyPI" >&2
    rm -rf "$venv"
    "$python_for_venv" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        jupyter_client ipykernel uv
fi
export KERNELS_TEST_PYTHON="$venv/bin/python"
export PATH="$venv/bin:$PATH"

echo "==> test tools: $("$venv/bin/python" -c 'import jupyter_client, ipykernel, sys; print("python", sys.version.split()[0], "jupyter_client", jupyter_client.__version__, "ipykernel", ipykernel.__version__)'), $("$venv/bin/uv" --version)" >&2
if command -v R >/dev/null 2>&1; then echo "==> R: $(R --version | head -1)" >&2; else echo "==> R: not installed (the R kernel test will say it skipped)" >&2; fi

# One release build serves the tests and the benchmarks.
cargo test --release --workspace "$@"
