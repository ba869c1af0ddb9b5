#!/usr/bin/env bash
# startup.sh — the STARTUP script of a Jupyter machine (runs at every start, as root).
#
# Brings the notebook user's kernels back to kernels.toml: after a re-image, after someone
# deleted a kernel, after the file changed. On a machine that already matches it starts no
# installer and takes milliseconds, so it fits well inside a startup timeout.
#
# Usage: startup.sh [USER] [KERNELS_TOML]   (same arguments as create-image.sh)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
user=${1:-${KERNELS_USER:-azureuser}}
file=${2:-$here/kernels.toml}

kernels=$(command -v kernels || true)
if [ -z "$kernels" ]; then
    echo "startup.sh: kernels is not on PATH (install it to /usr/local/bin)" >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ] && [ "$user" != "$(id -un)" ]; then
    for_user=(--for-user "$user")
    as_user=(runuser -u "$user" --)
else
    for_user=()
    as_user=()
fi

# Nothing to do is the common case: say so and skip the rest.
if "$kernels" apply "$file" "${for_user[@]}" --check --prune --quiet; then
    echo "startup.sh: kernels match $file"
else
    status=$?
    # 4 means "something would change"; anything else is a real problem (bad file, refusal).
    [ "$status" -eq 4 ] || exit "$status"
    # Converge. --prune also removes kernels an older version of this file created and the
    # file no longer lists (never protected ones, never anything else).
    "$kernels" apply "$file" "${for_user[@]}" --prune --yes
fi

# Start every kernel and ask it for kernel_info; exit 4 if one does not answer.
"${as_user[@]}" "$kernels" doctor --boot
