#!/usr/bin/env bash
# create-image.sh — the CREATION script of a Jupyter machine image (runs once, as root).
#
# Makes the notebook user's kernels match kernels.toml (next to this script), protects
# everything the image now has, and proves every kernel starts. Idempotent: a second run
# changes nothing, so it is also safe to re-run after a failed build or a re-image.
#
# Usage: create-image.sh [USER] [KERNELS_TOML]
#   USER          the notebook user (default: $KERNELS_USER, else azureuser). When it is the
#                 user running the script, everything happens in that user's own home.
#   KERNELS_TOML  default: kernels.toml next to this script.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
user=${1:-${KERNELS_USER:-azureuser}}
file=${2:-$here/kernels.toml}

# Setup scripts get no login shell: find the binary once, never rely on shell init files.
kernels=$(command -v kernels || true)
if [ -z "$kernels" ]; then
    echo "create-image.sh: kernels is not on PATH (install it to /usr/local/bin)" >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ] && [ "$user" != "$(id -un)" ]; then
    # Root working for the notebook user: their home, their file ownership, no `sudo -u -i`.
    for_user=(--for-user "$user")
    as_user=(runuser -u "$user" --)
    user_home=$(getent passwd "$user" | cut -d: -f6)
else
    for_user=()
    as_user=()
    user_home=$HOME
fi
if [ "$(id -u)" -eq 0 ]; then
    policy=(--system)   # the administrator's policy file: users cannot edit it
else
    policy=()
fi

# 1. Converge: environments, packages and kernelspecs as the file says. Nothing prompts;
#    --yes allows replacing a same-named kernelspec that kernels did not make.
"$kernels" apply "$file" "${for_user[@]}" --yes

# 2. Protect everything present now — the base image's own kernels and environments as well
#    as ours — so no later `kernels remove`, `prune` or same-named user kernel can break them,
#    and `kernels doctor` fails if one goes missing.
HOME=$user_home "$kernels" protect --snapshot "${policy[@]}"

# 3. Prove it: start every kernel, as the user, and ask it for kernel_info (exit 4 if one
#    does not answer).
"${as_user[@]}" "$kernels" doctor --boot
