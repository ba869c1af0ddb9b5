#!/usr/bin/env bash
# Benchmark for `kernels list --json` on 50 kernelspecs, against `jupyter kernelspec list
# --json` and against just reading the 50 files with `cat`, in one run. Prints medians, the
# ratios the targets are stated in, and peak memory.
# Targets: at least 50x faster than jupyter's; within 2x of reading the files.
# Needs: a release build (cargo build --release) and a Python with jupyter_client
# (KERNELS_TEST_PYTHON, or .ci-venv/bin/python as scripts/test.sh makes it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin=${KERNELS_BIN:-$root/target/release/kernels}
python=${KERNELS_TEST_PYTHON:-$root/.ci-venv/bin/python}
[ -x "$bin" ] || { echo "no release binary at $bin (cargo build --release)" >&2; exit 1; }
"$python" -c 'import jupyter_client' 2>/dev/null || { echo "$python lacks jupyter_client (run scripts/test.sh once)" >&2; exit 1; }

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
home="$work/home"; kdir="$home/.local/share/jupyter/kernels"
for i in $(seq -w 1 50); do
    mkdir -p "$kdir/bench-$i"
    printf '{\n "argv": ["/opt/env%s/bin/python", "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"],\n "display_name": "Python (bench-%s)",\n "language": "python",\n "metadata": {"debugger": true, "supported_encryption": ["curve"]},\n "kernel_protocol_version": "5.5"\n}' "$i" "$i" > "$kdir/bench-$i/kernel.json"
done
prefix=$("$python" -c 'import sys; print(sys.prefix)')
files=("$kdir"/*/kernel.json)

env -i PATH=/usr/bin:/bin HOME="$home" KERNELS_JUPYTER_PREFIX="$prefix" "$bin" list --json > "$work/ours.json"
n=$("$python" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["kernelspecs"]))' "$work/ours.json")
echo "kernelspecs listed: $n (50 generated + the test venv's own)"

env -i PATH=/usr/bin:/bin HOME="$home" KERNELS_JUPYTER_PREFIX="$prefix" \
"$python" "$root/benches/bench.py" --runs "${RUNS:-30}" \
    --case "cat 50 kernel.json" -- cat "${files[@]}" \
    --case "kernels list --json" -- "$bin" list --json \
    --case "jupyter kernelspec list --json" -- "$python" -m jupyter kernelspec list --json \
    | tee "$work/result.txt"

"$python" - "$work/result.txt" <<'PY'
import re, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"(.+?)\s{2,}([\d.]+) (ms|s)\s", line)
    if m:
        rows[m.group(1).strip()] = float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
ours = rows["kernels list --json"]
print(f"ratio: jupyter / kernels = {rows['jupyter kernelspec list --json'] / ours:.1f}x (target >= 50x)")
print(f"ratio: kernels / cat     = {ours / rows['cat 50 kernel.json']:.2f}x (target <= 2x)")
PY
