#!/usr/bin/env bash
# Builds the portable `kernels` wheel (distribution `kernelkeeper`, see pyproject.toml),
# proves its glibc floor, installs it into a fresh venv with pip and smoke-tests the installed
# command. CI runs it (.ci/run); so can anyone, from the repository root:
#
#   ./scripts/wheel.sh            # build, check, install, smoke test
#   ./scripts/wheel.sh --build    # build and check only
#
# Everything lives under target-wheel/ (ignored by git), apart from the test build's target/:
#   tools/  a venv with maturin and zig (the ziglang package) from PyPI, reused when present
#   cargo/  the wheel build's own cargo target dir
#   wheels/ the wheel: target-wheel/wheels/kernelkeeper-VERSION-py3-none-manylinux_2_17_*.whl
#   smoke/  a fresh venv and sandbox HOME for the smoke test (made anew each run)
#
# The binary is linked by zig against glibc 2.17 (manylinux2014), so it runs on every Linux
# with glibc 2.17 or newer (Ubuntu 14.04+, Debian 8+, RHEL/CentOS 7+). The check reads the
# highest GLIBC_ symbol version the binary needs and fails above FLOOR.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work="$root/target-wheel"
FLOOR=2.17
python_for_venv=${PYTHON:-python3}
build_only=false
[ "${1:-}" = "--build" ] && build_only=true

say() { echo "==> wheel: $*" >&2; }
fail() {
    echo "wheel.sh: error: $1" >&2
    [ -n "${2:-}" ] && echo "hint: $2" >&2
    exit 1
}

# 1. Build tools: maturin and zig from PyPI, in their own venv (no toolchain download).
tools="$work/tools"
if ! "$tools/bin/maturin" --version >/dev/null 2>&1 || ! "$tools/bin/python" -m ziglang version >/dev/null 2>&1; then
    say "installing maturin and ziglang from PyPI into $tools"
    rm -rf "$tools"
    "$python_for_venv" -m venv "$tools"
    "$tools/bin/python" -m pip install --quiet --disable-pip-version-check \
        'maturin>=1.16,<2' 'ziglang>=0.17,<0.18' ||
        fail "could not install maturin and ziglang" "check that PyPI is reachable, then re-run"
fi
say "$("$tools/bin/maturin" --version), zig $("$tools/bin/python" -m ziglang version)"

# 2. Build: release profile, linked by zig for manylinux2014, in its own target dir.
rm -rf "$work/wheels"
PATH="$tools/bin:$PATH" CARGO_TARGET_DIR="$work/cargo" \
    "$tools/bin/maturin" build --release --locked --zig --compatibility manylinux2014 \
    --out "$work/wheels" >&2
wheels=("$work"/wheels/kernelkeeper-*.whl)
[ ${#wheels[@]} -eq 1 ] && [ -f "${wheels[0]}" ] || fail "expected one wheel in $work/wheels, found: ${wheels[*]}"
wheel=${wheels[0]}
say "built $(basename "$wheel") ($(du -h "$wheel" | cut -f1))"
case "$(basename "$wheel")" in
    *manylinux_2_17_*) ;;
    *) fail "the wheel is not tagged manylinux_2_17: $(basename "$wheel")" ;;
esac

# 3. The glibc floor: the highest GLIBC_ version among the symbol versions the binary needs.
unpacked="$work/unpacked"
rm -rf "$unpacked"
"$tools/bin/python" -m zipfile -e "$wheel" "$unpacked"
binary=$(find "$unpacked" -path '*.data/scripts/kernels' -type f)
[ -n "$binary" ] || fail "the wheel has no .data/scripts/kernels"
if command -v objdump >/dev/null 2>&1; then
    needed=$(objdump -T "$binary")
elif command -v readelf >/dev/null 2>&1; then
    needed=$(readelf -V --wide "$binary")
else
    fail "neither objdump nor readelf is installed" "install binutils"
fi
highest=$(grep -o 'GLIBC_[0-9][0-9.]*' <<<"$needed" | sed 's/^GLIBC_//' | sort -uV | tail -1)
[ -n "$highest" ] || fail "found no GLIBC_ symbol versions in $binary"
if [ "$(printf '%s\n%s\n' "$highest" "$FLOOR" | sort -V | tail -1)" != "$FLOOR" ]; then
    fail "the binary needs GLIBC_$highest, above the floor $FLOOR" \
        "build it with --zig --compatibility manylinux2014 (see pyproject.toml)"
fi
say "glibc floor: the binary needs at most GLIBC_$highest (floor $FLOOR)"
$build_only && exit 0

# 4. Install into a fresh venv with pip: `kernels` must land on the venv's PATH.
smoke="$work/smoke"
rm -rf "$smoke"
"$python_for_venv" -m venv "$smoke/venv"
"$smoke/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-index "$wheel"
installed="$smoke/venv/bin/kernels"
[ -x "$installed" ] || fail "pip install did not put kernels in $smoke/venv/bin"

# 5. Smoke test through the installed entry point, in a sandbox HOME with nothing Jupyter-,
#    conda- or Python-related inherited (pip's own settings are kept: they say how to reach
#    the index).
mkdir -p "$smoke/home"
scrub=()
while IFS= read -r name; do
    case "$name" in
        JUPYTER* | XDG_* | CONDA* | _CE_* | MAMBA* | VIRTUAL_ENV* | PYTHON* | IPYTHONDIR | KERNELS_* | UV_*) scrub+=(-u "$name") ;;
    esac
done < <(compgen -e)
sandbox=(env "${scrub[@]}" HOME="$smoke/home" KERNELS_SYSTEM_POLICY="$smoke/etc/policy.json"
    PATH="$smoke/venv/bin:/usr/local/bin:/usr/bin:/bin")
k() { "${sandbox[@]}" kernels "$@" </dev/null; }

[ "$("${sandbox[@]}" sh -c 'command -v kernels')" = "$installed" ] ||
    fail "kernels on PATH is not the installed one"
version=$(k --version)
echo "$version" | sed 's/^/    /' >&2
expected="kernels $(sed -n 's/^Version: //p' "$unpacked"/kernelkeeper-*.dist-info/METADATA)"
[ "$(head -1 <<<"$version")" = "$expected" ] || fail "kernels --version starts with '$(head -1 <<<"$version")', not '$expected'"
grep -qx "glibc: $highest or newer" <<<"$version" || fail "kernels --version does not report the floor $highest"

k list --json | "$smoke/venv/bin/python" -c 'import json, sys; d = json.load(sys.stdin); assert "kernelspecs" in d, d' ||
    fail "kernels list --json did not print its JSON document"
say "kernels add wheel-smoke --backend venv (python -m venv + pip install ipykernel)"
k add wheel-smoke --backend venv >&2 || fail "kernels add failed"
k list --json | "$smoke/venv/bin/python" -c 'import json, sys; d = json.load(sys.stdin); assert "wheel-smoke" in d["kernelspecs"], d' ||
    fail "the new kernel is not in kernels list --json"
k doctor --boot wheel-smoke >&2 || fail "kernels doctor --boot wheel-smoke did not pass"
k remove wheel-smoke --with-env --yes >&2 || fail "kernels remove failed"
# The rattler backend's HTTPS client is built (TLS included) and fails cleanly: the only
# channel is a loopback port that refuses at once.
grep -qx "backends: .*rattler" <<<"$version" || fail "kernels --version does not list the rattler backend"
printf 'channels:\n  - https://127.0.0.1:1/lab\ndefault_channels: []\n' >"$smoke/home/.condarc"
rc=0
out=$(k add wheel-rattler --backend rattler --prefix "$smoke/rattler-env" 2>&1) || rc=$?
rm "$smoke/home/.condarc"
echo "$out" | sed 's/^/    /' >&2
if [ "$rc" = 0 ] || [ "$rc" = 101 ] || grep -q panicked <<<"$out" || ! grep -q '127\.0\.0\.1' <<<"$out"; then
    fail "kernels add --backend rattler with an unreachable channel did not fail with a clean error (exit $rc)"
fi
[ ! -e "$smoke/rattler-env" ] || fail "the failed rattler add left its environment behind"
say "smoke test passed: the pip-installed $expected"
