#!/usr/bin/env bash
# Benchmarks for `kernels doctor`, in one run:
#  1. `doctor --boot` over 8 healthy kernels against the slowest of the same kernels booted
#     one at a time. Target: at most 1.5x (the boots run concurrently).
#  2. `doctor` (static checks, no boot) over 50 kernels, each with its own venv. Target: a
#     median under 50 ms.
# Prints medians (benches/bench.py) and the two figures the targets are stated in.
# Needs: a release build (cargo build --release; KERNELS_BIN or $CARGO_TARGET_DIR picks
# another one) and a Python with ipykernel (KERNELS_TEST_PYTHON, or .ci-venv/bin/python as
# scripts/test.sh makes it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin=${KERNELS_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/kernels}
python=${KERNELS_TEST_PYTHON:-$root/.ci-venv/bin/python}
[ -x "$bin" ] || { echo "no release binary at $bin (cargo build --release)" >&2; exit 1; }
"$python" -c 'import ipykernel' 2>/dev/null || { echo "$python lacks ipykernel (run scripts/test.sh once)" >&2; exit 1; }

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
# An isolated machine: its own HOME, and a "system" Jupyter dir inside the work dir, so the
# host's own kernels are not part of the measurement.
home="$work/home"; kdir="$home/.local/share/jupyter/kernels"; mkdir -p "$kdir" "$work/sys"
envs=(--env "HOME=$home" --env "JUPYTER_PLATFORM_DIRS=1" --env "XDG_DATA_DIRS=$work/sys"
      --env "KERNELS_SYSTEM_POLICY=$work/etc/policy.json" --env "PATH=$(dirname "$python"):/usr/bin:/bin")
spec() { # name python
    printf '{"argv": ["%s", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Python (%s)", "language": "python"}' "$2" "$1"
}
cores=$(nproc 2>/dev/null || echo "?")
echo "machine: $cores cores; kernels $("$bin" --version | cut -d' ' -f2); $("$python" -c 'import sys, ipykernel; print("python", sys.version.split()[0], "ipykernel", ipykernel.__version__)')"

echo
echo "== 1. doctor --boot: 8 kernels at once vs the slowest single boot"
for i in 0 1 2 3 4 5 6 7; do
    mkdir -p "$kdir/boot-$i"; spec "boot-$i" "$python" > "$kdir/boot-$i/kernel.json"
done
cases=()
for i in 0 1 2 3 4 5 6 7; do cases+=(--case "boot-$i alone" -- "$bin" doctor --boot "boot-$i"); done
cases+=(--case "all 8 at once" -- "$bin" doctor --boot)
"$python" "$root/benches/bench.py" --runs "${BOOT_RUNS:-3}" --warmup 1 "${envs[@]}" "${cases[@]}" | tee "$work/boot.txt"
# CPU seconds one boot costs (the kernel is our child, so GNU time counts it too): with N
# kernels on C cores no schedule can beat N * cpu / C.
cpu=$(env -i HOME="$home" JUPYTER_PLATFORM_DIRS=1 XDG_DATA_DIRS="$work/sys" KERNELS_SYSTEM_POLICY="$work/etc/policy.json" \
    PATH="$(dirname "$python"):/usr/bin:/bin" /usr/bin/time -f '%U %S' "$bin" doctor --boot boot-0 2>&1 >/dev/null \
    | tail -1 | awk '{ print $1 + $2 }') || cpu=""
"$python" - "$work/boot.txt" "$cores" "${cpu:-}" "$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo ?)" <<'PY'
import re, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"(.+?)\s{2,}([\d.]+) (ms|s)\s", line)
    if m:
        rows[m.group(1).strip()] = float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
singles = {k: v for k, v in rows.items() if k.endswith("alone")}
slowest = max(singles.values())
together = rows["all 8 at once"]
print(f"slowest single boot {slowest:.2f} s; all 8 at once {together:.2f} s; "
      f"sum of singles {sum(singles.values()):.2f} s")
print(f"ratio: all 8 / slowest single = {together / slowest:.2f}x (target <= 1.5x) "
      f"on {sys.argv[2]} cores, load average {sys.argv[4]} before the run")
try:
    cpu, cores = float(sys.argv[3]), int(sys.argv[2])
    floor = 8 * cpu / cores
    print(f"one boot costs {cpu:.2f} CPU s, so 8 boots on {cores} cores need at least {floor:.2f} s: "
          f"the best ratio this machine allows is {max(floor, slowest) / slowest:.2f}x")
except ValueError:
    pass
PY
rm -rf "$kdir"/boot-*

echo
echo "== 2. doctor (static) over 50 kernels, each with its own venv"
for i in $(seq -w 1 50); do
    "$python" -m venv --without-pip --system-site-packages "$work/envs/env-$i"
    mkdir -p "$kdir/k-$i"; spec "k-$i" "$work/envs/env-$i/bin/python" > "$kdir/k-$i/kernel.json"
done
"$python" "$root/benches/bench.py" --runs "${RUNS:-30}" "${envs[@]}" \
    --case "kernels doctor (50 kernels)" -- "$bin" doctor \
    --case "kernels doctor --json (50 kernels)" -- "$bin" doctor --json | tee "$work/static.txt"
"$python" - "$work/static.txt" <<'PY'
import re, sys
for line in open(sys.argv[1]):
    m = re.match(r"(kernels doctor \(50 kernels\))\s{2,}([\d.]+) (ms|s)\s", line)
    if m:
        ms = float(m.group(2)) * (1 if m.group(3) == "ms" else 1000)
        print(f"median: {ms:.1f} ms for 50 kernels (target < 50 ms)")
PY
