#!/usr/bin/env bash
# The reliability suite, in one command: hostile kernel.json files, names that try to escape
# the kernels dir, concurrent runs, interrupts at each step of `add`, a full disk and an
# immutable kernels dir (tests/e2e/reliability.rs), the "hostile user" group (every test named
# `hostile_*`, in whichever files hold them: symlinks planted for root's --for-user run, the
# admin policy switched off or imitated, FIFOs and devices as inputs, option injection, ...),
# the chaos group (tests/e2e/chaos.rs: `kill -9` at CHAOS_POINTS random instants per command
# across `add` with venv and with the real conda, `install`, `remove --with-env` and `apply`,
# then the next command; the machine must be as before or complete), then a fuzz smoke run of
# the parsers (fuzz/run.sh). Prints how many cases were tried and passed, per group and in
# total; exits non-zero when any case failed.
#
#   scripts/reliability.sh            # FUZZ_SECONDS=10 (total, split across the targets)
#   FUZZ_SECONDS=600 scripts/reliability.sh
#   CHAOS_POINTS=50 KERNELS_CHAOS_SEED=123 scripts/reliability.sh   # (50 is the default)
#
# The conda chaos case needs a real conda: KERNELS_TEST_CONDA, else the one scripts/test.sh
# bootstrapped into target/conda-lab/; without either it says it skipped.
#
# Some cases need root (mounting a tmpfs, chattr +i); without it they print why they skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# The Python with jupyter_client and ipykernel the tests drive (as scripts/test.sh makes it).
if [ -z "${KERNELS_TEST_PYTHON:-}" ]; then
    venv="$root/.ci-venv"
    if ! "$venv/bin/python" -c 'import jupyter_client, ipykernel' >/dev/null 2>&1 || [ ! -x "$venv/bin/uv" ]; then
        echo "==> creating $venv with jupyter_client, ipykernel and uv from PyPI" >&2
        rm -rf "$venv"
        "${PYTHON:-python3}" -m venv "$venv" &&
            "$venv/bin/python" -m pip install --quiet --disable-pip-version-check jupyter_client ipykernel uv
    fi
    export KERNELS_TEST_PYTHON="$venv/bin/python"
    export PATH="$venv/bin:$PATH"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "==> tests/e2e/reliability.rs" >&2
cargo test --release --test tests -- e2e::reliability --nocapture --test-threads=1 >"$log" 2>&1
tests_status=$?
grep -E '^reliability: .*FAIL' "$log" || true
if [ $tests_status -ne 0 ] && ! grep -q '^reliability ' "$log"; then
    tail -40 "$log"
fi
grep -E '^reliability: .*skipped' "$log" || true

# The hostile-user group: one case per test, selected by name (a test file added later joins
# the group by naming its tests hostile_*).
hostile_log=$(mktemp)
trap 'rm -f "$log" "$hostile_log"' EXIT
echo "==> hostile_* tests" >&2
cargo test --release --test tests -- hostile_ --test-threads=1 >"$hostile_log" 2>&1
hostile_status=$?
hostile_tried=$(grep -cE '^test .*::hostile_[A-Za-z0-9_]* \.\.\. (ok|FAILED)$' "$hostile_log")
hostile_passed=$(grep -cE '^test .*::hostile_[A-Za-z0-9_]* \.\.\. ok$' "$hostile_log")
grep -E '^test .*::hostile_.* FAILED$' "$hostile_log" >&2 || true
if [ $hostile_status -ne 0 ] && [ "$hostile_tried" -eq "$hostile_passed" ]; then
    tail -40 "$hostile_log" >&2
fi

# The chaos group: one line per command, "chaos: add/venv 50 kills, 50 consistent (...)".
if [ -z "${KERNELS_TEST_CONDA:-}" ] && [ -x "$root/target/conda-lab/root/bin/conda" ]; then
    export KERNELS_TEST_CONDA="$root/target/conda-lab/root/bin/conda"
fi
chaos_log=$(mktemp)
trap 'rm -f "$log" "$hostile_log" "$chaos_log"' EXIT
chaos_points="${CHAOS_POINTS:-50}"
echo "==> chaos: $chaos_points kill -9 instants per command" >&2
KERNELS_CHAOS_POINTS="$chaos_points" cargo test --release --test tests -- e2e::chaos::chaos_kill_9 \
    --include-ignored --nocapture --test-threads=1 >"$chaos_log" 2>&1
chaos_status=$?
grep -E '^chaos .*: seed|^chaos: |skipped' "$chaos_log" >&2 || true
if [ $chaos_status -ne 0 ]; then
    grep -E -A12 '^---- ' "$chaos_log" | head -80 >&2
fi

fuzz_seconds="${FUZZ_SECONDS:-10}"
per_target=$(awk -v s="$fuzz_seconds" 'BEGIN { printf "%.2f", s / 4 }')
echo "==> fuzz/run.sh $per_target (each of 4 targets)" >&2
fuzz_out=$(./fuzz/run.sh "$per_target" 2>&1)
fuzz_status=$?
echo "$fuzz_out" | grep -E '^fuzz ' >&2 || echo "$fuzz_out" | tail -20 >&2

echo
echo "reliability suite"
tried=0
passed=0
while read -r group n p; do
    printf '  %-12s %5d cases tried, %5d passed\n' "$group" "$n" "$p"
    tried=$((tried + n))
    passed=$((passed + p))
done < <(sed -nE 's/^reliability ([a-z-]+): ([0-9]+) cases tried, ([0-9]+) passed$/\1 \2 \3/p' "$log")
printf '  %-12s %5d cases tried, %5d passed\n' "hostile user" "$hostile_tried" "$hostile_passed"
tried=$((tried + hostile_tried))
passed=$((passed + hostile_passed))
chaos_tried=0
while IFS=$'\t' read -r name n c; do
    printf '  %-12s %5d kills,       %5d consistent\n' "chaos $name" "$n" "$c"
    tried=$((tried + n))
    passed=$((passed + c))
    chaos_tried=$((chaos_tried + n))
done < <(sed -nE 's/^chaos: (.+) ([0-9]+) kills, ([0-9]+) consistent.*/\1\t\2\t\3/p' "$chaos_log")
if [ "$chaos_tried" -eq 0 ]; then
    echo "  chaos: no command ran (see above)"
fi
fuzz_tried=$(echo "$fuzz_out" | grep -cE '^fuzz [a-z]+: ')
fuzz_passed=$(echo "$fuzz_out" | grep -cE '^fuzz [a-z]+: .* 0 failures')
inputs=$(echo "$fuzz_out" | sed -nE 's/^fuzz [a-z]+: ([0-9]+) inputs.*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
printf '  %-12s %5d targets tried, %3d passed (%d inputs in %s s)\n' fuzz "$fuzz_tried" "$fuzz_passed" "$inputs" "$fuzz_seconds"
tried=$((tried + fuzz_tried))
passed=$((passed + fuzz_passed))
printf '  %-12s %5d cases tried, %5d passed\n' total "$tried" "$passed"
if [ $tests_status -ne 0 ] || [ $hostile_status -ne 0 ] || [ $chaos_status -ne 0 ] || [ $fuzz_status -ne 0 ] || [ "$tried" -ne "$passed" ] || [ "$tried" -eq 0 ]; then
    exit 1
fi
