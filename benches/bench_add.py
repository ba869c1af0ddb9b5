"""Timing harness for `kernels add`, its satisfied re-run and `kernels envs` (run by add.sh).

Everything runs in a throw-away HOME; only the uv/pip caches are the user's (warm caches are
the point of the comparison). Prints medians and ratios, one run, and exits 1 when a target
is missed.

    python bench_add.py --kernels BIN --python BASE_PYTHON [--uv UV] [--runs N]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def clean_env(home, extra=None):
    keep = ("LANG", "SSL_CERT_FILE", "SSL_CERT_DIR", "PIP_CERT", "REQUESTS_CA_BUNDLE",
            "CURL_CA_BUNDLE", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
            "NO_PROXY", "no_proxy", "PIP_INDEX_URL", "UV_INDEX_URL")
    env = {k: v for k, v in os.environ.items() if k in keep}
    real_home = os.path.expanduser("~")
    env["UV_CACHE_DIR"] = os.environ.get("UV_CACHE_DIR", os.path.join(real_home, ".cache/uv"))
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR", os.path.join(real_home, ".cache/pip"))
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["HOME"] = home
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    env["KERNELS_SYSTEM_POLICY"] = os.path.join(home, "no-policy.json")
    env.update(extra or {})
    return env


def run(cmd, env, check=True):
    started = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - started
    if check and p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return took


def report(label, times):
    med = statistics.median(times)
    print(f"  {label:<44} median {fmt(med):>9}  min {fmt(min(times)):>9}  ({len(times)} runs)",
          flush=True)
    return med


def series(label, n, once):
    return report(label, [once() for _ in range(n)])


def fmt(s):
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernels", required=True)
    ap.add_argument("--python", required=True, help="base interpreter for the venvs")
    ap.add_argument("--uv")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--fast-runs", type=int, default=30)
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="kernels-bench-")
    home = os.path.join(tmp, "home")
    os.makedirs(home)
    envs_home = os.path.join(home, ".local/share/kernels/envs")
    kernels_dir = os.path.join(home, ".local/share/jupyter/kernels")
    env_dir = os.path.join(envs_home, "bench")
    recipe_dir = os.path.join(tmp, "recipe-env")
    base = clean_env(home, {"KERNELS_PYTHON": a.python})

    def reset():
        for d in (env_dir, recipe_dir, os.path.join(kernels_dir, "bench")):
            shutil.rmtree(d, ignore_errors=True)

    def recipe():
        total = run([a.python, "-m", "venv", recipe_dir], base)
        total += run([os.path.join(recipe_dir, "bin/pip"), "install", "-q", "ipykernel"], base)
        total += run([os.path.join(recipe_dir, "bin/python"), "-m", "ipykernel", "install",
                      "--user", "--name", "bench"], base)
        return total

    add = [a.kernels, "add", "bench", "--backend", "venv", "-q"]
    with_uv = dict(base, KERNELS_UV=a.uv) if a.uv else None
    no_uv = dict(base, KERNELS_NO_UV="1")
    results = {}
    print(f"kernels add vs the manual recipe (warm caches; {a.runs} alternating runs each after one warm-up)")
    print(f"  base Python {a.python}; uv {a.uv or '(none)'}", flush=True)
    # Warm-up: fill the caches and the page cache once for every path.
    reset(); recipe()
    reset(); run(add, no_uv)
    if with_uv:
        reset(); run(add, with_uv)
    # The slow cases alternate run by run, so load on the machine hits them alike.
    slow = [("recipe", "manual recipe (venv + pip + ipykernel install)", recipe),
            ("add_no_uv", "kernels add --backend venv (no uv: venv+pip)",
             lambda: run(add, no_uv))]
    if with_uv:
        slow.append(("add_uv", "kernels add --backend venv (uv)", lambda: run(add, with_uv)))
    times = {key: [] for key, _, _ in slow}
    for _ in range(a.runs):
        for key, _, once in slow:
            reset()
            times[key].append(once())
    for key, label, _ in slow:
        results[key] = report(label, times[key])
    if with_uv:
        reset()
        run(add, with_uv)
        rerun_env = with_uv
    else:
        rerun_env = no_uv
    # The env and kernel of the last run are in place: the satisfied re-run.
    results["rerun"] = series("kernels add, satisfied re-run", a.fast_runs,
                              lambda: run(add, rerun_env))

    # kernels envs over 30 generated conda environments.
    root = os.path.join(tmp, "conda")
    for i in range(-1, 30):
        p = root if i < 0 else os.path.join(root, "envs", f"e{i}")
        os.makedirs(os.path.join(p, "conda-meta"), exist_ok=True)
        open(os.path.join(p, "conda-meta/history"), "w").close()
        for pkg in ("python-3.12.1-h0", "ipykernel-6.29.5-pyh0", "pip-24.0-pyh0"):
            with open(os.path.join(p, "conda-meta", pkg + ".json"), "w") as fh:
                json.dump({}, fh)
    os.makedirs(os.path.join(root, "bin"), exist_ok=True)
    os.makedirs(os.path.join(root, "condabin"), exist_ok=True)
    conda = os.path.join(root, "bin/conda")
    with open(conda, "w") as fh:
        fh.write("#!/bin/sh\necho 'conda must not run' >&2\nexit 1\n")
    os.chmod(conda, 0o755)
    envs_env = dict(base, KERNELS_CONDA=conda)
    out = subprocess.run([a.kernels, "envs", "--json"], env=envs_env, capture_output=True,
                         text=True, check=True)
    n_envs = len(json.loads(out.stdout)["environments"])
    results["envs"] = series(f"kernels envs ({n_envs} environments)", a.fast_runs,
                             lambda: run([a.kernels, "envs"], envs_env))
    results["envs_json"] = series(f"kernels envs --json ({n_envs} environments)", a.fast_runs,
                                  lambda: run([a.kernels, "envs", "--json"], envs_env))

    print("ratios and targets")
    ok = True

    def target(label, passed):
        nonlocal ok
        ok = ok and passed
        print(f"  {label:<58} {'ok' if passed else 'MISSED'}")

    if with_uv:
        r = results["recipe"] / results["add_uv"]
        target(f"recipe / kernels add (uv) = {r:.1f}x  (target >= 5x)", r >= 5)
    r = results["recipe"] / results["add_no_uv"]
    target(f"recipe / kernels add (no uv) = {r:.2f}x  (target > 1x)", r > 1)
    target(f"satisfied re-run {fmt(results['rerun'])}  (target < 50 ms)", results["rerun"] < 0.05)
    target(f"kernels envs {fmt(results['envs'])}  (target < 20 ms)", results["envs"] < 0.02)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
