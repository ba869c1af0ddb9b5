#!/usr/bin/env bash
# Benchmark for `kernels apply` of a 10-kernel kernels.toml on a machine that already
# matches it (the every-boot startup-script case). Prints the median; target < 50 ms.
#
# The ten kernels register one existing environment (the test venv, which has ipykernel), so
# setting up costs no installs; the converged run reads the machine, plans ten kernels
# (package and kernelspec checks per kernel), takes the run lock and writes nothing.
# Uses hyperfine when it is installed, else benches/bench.py.
# Needs: a release build (cargo build --release) and a Python with ipykernel
# (KERNELS_TEST_PYTHON, or .ci-venv/bin/python as scripts/test.sh makes it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin=${KERNELS_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/kernels}
python=${KERNELS_TEST_PYTHON:-$root/.ci-venv/bin/python}
runs=${RUNS:-30}
[ -x "$bin" ] || { echo "no release binary at $bin (cargo build --release)" >&2; exit 1; }
"$python" -c 'import ipykernel' 2>/dev/null || { echo "$python lacks ipykernel (run scripts/test.sh once)" >&2; exit 1; }

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
home="$work/home"; mkdir -p "$home"
env_prefix=$("$python" -c 'import sys; print(sys.prefix)')
file="$work/kernels.toml"
echo "version = 1" > "$file"
for i in $(seq -w 0 9); do
    printf '\n[[kernel]]\nname = "bench-%s"\ndisplay_name = "Python (bench %s)"\nexisting = "%s"\nenv = { BENCH = "%s" }\n' \
        "$i" "$i" "$env_prefix" "$i" >> "$file"
done
# A clean, sandboxed environment: its own HOME and policy, nothing Jupyter- or conda-related.
run_env=(env -i "PATH=/usr/bin:/bin" "HOME=$home" "KERNELS_SYSTEM_POLICY=$work/policy.json")

start=$(date +%s%N)
"${run_env[@]}" "$bin" apply "$file" --quiet >/dev/null
echo "first apply (registers 10 kernels): $(( ($(date +%s%N) - start) / 1000000 )) ms"
"${run_env[@]}" "$bin" apply "$file" --check --quiet >/dev/null || { echo "not converged after the first apply" >&2; exit 1; }

if command -v hyperfine >/dev/null 2>&1; then
    "${run_env[@]}" "$(command -v hyperfine)" --shell=none --warmup 3 --runs "$runs" \
        --export-json "$work/hf.json" --style basic \
        "$bin apply $file --quiet" >&2
    median=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$work/hf.json")
    tool=hyperfine
else
    "${run_env[@]}" "$python" "$root/benches/bench.py" --runs "$runs" \
        --case "kernels apply (converged, 10 kernels)" -- "$bin" apply "$file" --quiet | tee "$work/result.txt"
    median=$("$python" - "$work/result.txt" <<'PY'
import re, sys
for line in open(sys.argv[1]):
    m = re.match(r"kernels apply.*?\s{2,}([\d.]+) (ms|s)\s", line)
    if m:
        print(float(m.group(1)) / (1000 if m.group(2) == "ms" else 1))
PY
)
    tool=bench.py
fi
"$python" - "$median" "$tool" "$runs" <<'PY'
import sys
median, tool, runs = float(sys.argv[1]), sys.argv[2], sys.argv[3]
verdict = "ok" if median < 0.050 else "OVER TARGET"
print(f"kernels apply, converged, 10 kernels: median {median * 1000:.1f} ms over {runs} runs ({tool}); target < 50 ms: {verdict}")
PY
