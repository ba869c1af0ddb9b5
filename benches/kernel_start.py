"""Kernel start latency: a spec written by `kernels add` (activation baked into `env`) vs the
plain ipykernel spec of the same environment (same argv, no `env`). Run by add.sh with the
Python that has jupyter_client, HOME pointing at the sandbox that holds the kernel.

Measures, with the real jupyter_client, the time from `start_new_kernel` to the kernel's
first `kernel_info_reply` (jupyter_client's own readiness check), alternating the two specs.

    python kernel_start.py KERNEL_NAME [--runs N]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import start_new_kernel


def once(name):
    started = time.perf_counter()
    km, kc = start_new_kernel(kernel_name=name, startup_timeout=60, stderr=subprocess.DEVNULL)
    took = time.perf_counter() - started
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    return took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kernel")
    ap.add_argument("--runs", type=int, default=10)
    a = ap.parse_args()
    ksm = KernelSpecManager()
    src = ksm.get_kernel_spec(a.kernel).resource_dir
    plain_name = a.kernel + "-plain"
    plain_dir = os.path.join(os.path.dirname(src), plain_name)
    shutil.rmtree(plain_dir, ignore_errors=True)
    shutil.copytree(src, plain_dir)
    with open(os.path.join(plain_dir, "kernel.json")) as fh:
        spec = json.load(fh)
    baked = sorted(spec.pop("env", {}))
    spec["metadata"].pop("kernels", None)
    spec["display_name"] += " (plain)"
    with open(os.path.join(plain_dir, "kernel.json"), "w") as fh:
        json.dump(spec, fh, indent=1)
    try:
        once(a.kernel), once(plain_name)  # warm-up: page cache, bytecode
        ours, plain = [], []
        for _ in range(a.runs):
            ours.append(once(a.kernel))
            plain.append(once(plain_name))
    finally:
        shutil.rmtree(plain_dir, ignore_errors=True)
    mo, mp = statistics.median(ours), statistics.median(plain)
    print(f"kernel start to first kernel_info reply ({a.runs} runs each, alternating)")
    print(f"  kernels add spec (env: {', '.join(baked)})  median {mo * 1000:.0f} ms"
          f"  min {min(ours) * 1000:.0f} ms")
    print(f"  plain ipykernel spec (no env)  median {mp * 1000:.0f} ms"
          f"  min {min(plain) * 1000:.0f} ms")
    print(f"  difference {(mo - mp) * 1000:+.0f} ms ({(mo / mp - 1) * 100:+.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
