"""Timing harness for `kernels add` against the manual recipes, its satisfied re-run and
`kernels envs` (run by add.sh). One run prints three comparison rows, side by side:

  * no conda, no uv: `python -m venv` + `pip install ipykernel` + `ipykernel install`
    vs `kernels add --backend venv` with no uv of the user's (kernels' own uv, provisioned
    once in the warm-up; the first add, which provisions it, is reported too)  target >= 5x
  * real conda: `create python` + `install pip ipykernel` + register (the 4-step recipe;
    `activate` is a shell step with nothing to time) and one `create python ipykernel` +
    register, vs `kernels add --backend conda`                                  target >= 1.3x
  * rattler: `conda create python=3.11 ipykernel` + register vs `kernels add --backend
    rattler --python 3.11` (the same channel, from the conda root's .condarc), with the
    conda root's package cache warm, and cold (an empty CONDA_PKGS_DIRS for each run, for
    both)                                                              target >= 4x warm
  * uv: `uv venv` + `uv pip install ipykernel` + register vs `kernels add` with uv, both
    from uv's warm cache (UV_OFFLINE=1 on both sides)                          target >= 2x;
    and the same pair asking the index (reported: where a proxy strips PyPI's cache headers,
    uv downloads every index page and wheel again on every run, on both sides)
  * install: `E/bin/pip install numpy` vs `kernels install NAME numpy` into the same venv
    (kernels' own uv; numpy is uninstalled, untimed, before each run)           target >= 2x

Everything runs in a throw-away HOME (kernels' tool directory included); only the uv/pip
caches are the user's (warm caches are the point of the comparison) and the conda root's
package cache. Medians of RUNS alternating runs after one warm-up of every case. Exits 1 when
a target is missed.

    python bench_add.py --kernels BIN --python BASE_PYTHON [--uv UV] [--conda CONDA] [--runs N]
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

# What the install row puts into an existing kernel's venv (and takes out between runs).
INSTALL_PACKAGE = "numpy"


def clean_env(home, extra=None):
    keep = ("LANG", "SSL_CERT_FILE", "SSL_CERT_DIR", "PIP_CERT", "REQUESTS_CA_BUNDLE",
            "CURL_CA_BUNDLE", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
            "NO_PROXY", "no_proxy", "PIP_INDEX_URL", "PIP_FIND_LINKS", "UV_INDEX_URL")
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


def fmt(s):
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


def report(label, times):
    med = statistics.median(times)
    print(f"  {label:<52} median {fmt(med):>9}  min {fmt(min(times)):>9}  ({len(times)} runs)",
          flush=True)
    return med


def series(label, n, once):
    return report(label, [once() for _ in range(n)])


class Bench:
    """The throw-away HOME, the targets and the slow cases."""

    def __init__(self, a):
        self.a = a
        self.tmp = tempfile.mkdtemp(prefix="kernels-bench-")
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)
        self.kernels_dir = os.path.join(self.home, ".local/share/jupyter/kernels")
        self.env_dir = os.path.join(self.home, ".local/share/kernels/envs/bench")
        self.recipe_dir = os.path.join(self.tmp, "recipe-env")
        self.conda_dir = os.path.join(self.tmp, "conda-env")
        self.tool_dir = os.path.join(self.home, ".local/share/kernels/tools")
        self.base = clean_env(self.home, {"KERNELS_PYTHON": a.python})
        self.no_uv = dict(self.base)  # no uv on PATH: kernels' own uv
        self.with_uv = dict(self.base, KERNELS_UV=a.uv) if a.uv else None
        self.add = [a.kernels, "add", "bench", "--backend", "venv", "-q"]
        self.inst_dir = os.path.join(self.home, ".local/share/kernels/envs/binst")

    def reset(self):
        for d in (self.env_dir, self.recipe_dir, self.conda_dir,
                  os.path.join(self.kernels_dir, "bench")):
            shutil.rmtree(d, ignore_errors=True)
        # Untimed: let the disk finish writing back (and, on a `discard` mount, trimming) what
        # the previous case wrote and deleted, so that no case pays for the one before it. A
        # deleted 80 MB pip venv otherwise slows the next case's metadata writes by up to 2x.
        os.sync()

    def register(self, prefix):
        return run([os.path.join(prefix, "bin/python"), "-m", "ipykernel", "install", "--user",
                    "--name", "bench"], self.base)

    def pip_recipe(self):
        total = run([self.a.python, "-m", "venv", self.recipe_dir], self.base)
        total += run([os.path.join(self.recipe_dir, "bin/pip"), "install", "-q", "ipykernel"],
                     self.base)
        return total + self.register(self.recipe_dir)

    def uv_recipe(self, env=None):
        uv, env = self.a.uv, env or self.base
        total = run([uv, "venv", "-q", "--python", self.a.python, self.recipe_dir], env)
        total += run([uv, "pip", "install", "-q", "--python",
                      os.path.join(self.recipe_dir, "bin/python"), "ipykernel"], env)
        return total + self.register(self.recipe_dir)

    def conda_four_steps(self):
        conda = self.a.conda
        total = run([conda, "create", "-y", "-q", "-p", self.conda_dir, "python"], self.base)
        total += run([conda, "install", "-y", "-q", "-p", self.conda_dir, "pip", "ipykernel"],
                     self.base)
        return total + self.register(self.conda_dir)

    def conda_one_create(self):
        total = run([self.a.conda, "create", "-y", "-q", "-p", self.conda_dir, "python",
                     "ipykernel"], self.base)
        return total + self.register(self.conda_dir)

    def cold(self):
        """The variables of a cold-cache run: a fresh, empty package cache."""
        pkgs = os.path.join(self.tmp, "cold-pkgs")
        shutil.rmtree(pkgs, ignore_errors=True)
        return {"CONDA_PKGS_DIRS": pkgs}

    def conda_py311(self, extra=None):
        env = dict(self.base, **(extra or {}))
        total = run([self.a.conda, "create", "-y", "-q", "-p", self.conda_dir, "python=3.11",
                     "ipykernel"], env)
        return total + self.register(self.conda_dir)

    def kernels_rattler(self, extra=None):
        # KERNELS_CONDA only says where the conda root (and its .condarc) is; no conda runs.
        env = dict(self.base, KERNELS_CONDA=self.a.conda, **(extra or {}))
        return run([self.a.kernels, "add", "bench", "--backend", "rattler", "--python", "3.11",
                    "--prefix", self.conda_dir, "-q"], env)

    def kernels_conda(self):
        env = dict(self.base, KERNELS_CONDA=self.a.conda)
        return run([self.a.kernels, "add", "bench", "--backend", "conda", "--prefix",
                    self.conda_dir, "-q"], env)

    def make_install_env(self):
        """The venv behind kernel `binst` that the install cases fill (made once, own uv)."""
        run([self.a.kernels, "add", "binst", "--backend", "venv", "-q"], self.no_uv)

    def uninstall(self):
        run([os.path.join(self.inst_dir, "bin/python"), "-m", "pip", "uninstall", "-y", "-q",
             INSTALL_PACKAGE], self.base, check=False)

    def pip_install(self):
        self.uninstall()
        return run([os.path.join(self.inst_dir, "bin/pip"), "install", "-q", INSTALL_PACKAGE],
                   self.base)

    def kernels_install(self):
        self.uninstall()
        return run([self.a.kernels, "install", "binst", INSTALL_PACKAGE, "-q"], self.no_uv)

    def cases(self):
        """(key, label, run once) of every slow case, in the order they alternate."""
        out = [("pip_recipe", "recipe: venv + pip install + ipykernel install", self.pip_recipe),
               ("add_own_uv", "kernels add (no uv of the user's: own uv)",
                lambda: run(self.add, self.no_uv))]
        if self.a.conda:
            out += [("conda4", "recipe: conda create + install + register",
                     self.conda_four_steps),
                    ("conda1", "recipe: conda create python ipykernel + register",
                     self.conda_one_create),
                    ("add_conda", "kernels add --backend conda", self.kernels_conda)]
        if self.a.conda and self.a.rattler:
            out += [("conda311", "recipe: conda create python=3.11 ipykernel + reg.",
                     self.conda_py311),
                    ("add_rattler", "kernels add --backend rattler", self.kernels_rattler),
                    ("conda311_cold", "  the same, cold package cache",
                     lambda: self.conda_py311(self.cold())),
                    ("add_rattler_cold", "  kernels add --backend rattler, cold cache",
                     lambda: self.kernels_rattler(self.cold()))]
        if self.with_uv:
            # The same pair twice: with uv asking the index (on a network that strips PyPI's
            # cache headers, every run downloads every index page and wheel again, on both
            # sides), and with uv's warm cache only (UV_OFFLINE=1 on both sides).
            offline = dict(self.with_uv, UV_OFFLINE="1")
            out += [("uv_recipe", "recipe: uv venv + uv pip install + register",
                     self.uv_recipe),
                    ("add_uv", "kernels add (uv)", lambda: run(self.add, self.with_uv)),
                    ("uv_recipe_cached", "recipe: uv ... + register (UV_OFFLINE=1)",
                     lambda: self.uv_recipe(dict(self.base, UV_OFFLINE="1"))),
                    ("add_uv_cached", "kernels add (uv, UV_OFFLINE=1)",
                     lambda: run(self.add, offline))]
        out += [("pip_install", f"recipe: E/bin/pip install {INSTALL_PACKAGE}", self.pip_install),
                ("kernels_install", f"kernels install NAME {INSTALL_PACKAGE} (own uv)",
                 self.kernels_install)]
        return out

    def first_add(self):
        """The first add of a fresh user: provisions kernels' own uv, then adds."""
        shutil.rmtree(self.tool_dir, ignore_errors=True)
        self.reset()
        took = run(self.add, self.no_uv)
        if not os.path.exists(os.path.join(self.tool_dir, "uv/bin/uv")):
            sys.exit("kernels add did not provision uv (is pip missing from the base Python?)")
        return took


def envs_timings(b, results):
    """kernels envs over 30 generated conda environments (no conda runs)."""
    root = os.path.join(b.tmp, "conda")
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
    envs_env = dict(b.base, KERNELS_CONDA=conda)
    out = subprocess.run([b.a.kernels, "envs", "--json"], env=envs_env, capture_output=True,
                         text=True, check=True)
    n = len(json.loads(out.stdout)["environments"])
    results["envs"] = series(f"kernels envs ({n} environments)", b.a.fast_runs,
                             lambda: run([b.a.kernels, "envs"], envs_env))


def targets(results, has_conda, has_uv, has_rattler=False):
    print("ratios and targets (recipe / kernels add, medians of the same run)")
    ok = True

    def target(label, passed):
        nonlocal ok
        ok = ok and passed
        print(f"  {label:<66} {'ok' if passed else 'MISSED'}")

    r = results["pip_recipe"] / results["add_own_uv"]
    target(f"no conda, no uv: {r:.1f}x  (target >= 5x)", r >= 5)
    if has_conda:
        r4 = results["conda4"] / results["add_conda"]
        r1 = results["conda1"] / results["add_conda"]
        target(f"real conda: {r4:.2f}x the 4-step recipe  (target >= 1.3x)", r4 >= 1.3)
        print(f"  {'real conda: ' + f'{r1:.2f}x one create ... ipykernel + register':<66} "
              "(reported)")
    else:
        print("  real conda: skipped (no conda given; add.sh bootstraps the conda lab when "
              "it is present)")
    if has_conda and has_rattler:
        r = results["conda311"] / results["add_rattler"]
        target(f"rattler: {r:.1f}x conda create + register, warm cache  (target >= 4x)", r >= 4)
        r = results["conda311_cold"] / results["add_rattler_cold"]
        print(f"  {'rattler: ' + f'{r:.1f}x conda create + register, cold cache':<66} "
              "(reported)")
    if has_uv:
        r = results["uv_recipe_cached"] / results["add_uv_cached"]
        target(f"uv, warm cache: {r:.1f}x  (target >= 2x)", r >= 2)
        r = results["uv_recipe"] / results["add_uv"]
        print(f"  {'uv, asking the index: ' + f'{r:.1f}x':<66} (reported)")
    r = results["pip_install"] / results["kernels_install"]
    target(f"install into a venv: {r:.1f}x pip install  (target >= 2x)", r >= 2)
    target(f"satisfied re-run {fmt(results['rerun'])}  (target < 50 ms)", results["rerun"] < 0.05)
    target(f"kernels envs {fmt(results['envs'])}  (target < 20 ms)", results["envs"] < 0.02)
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernels", required=True)
    ap.add_argument("--python", required=True, help="base interpreter for the venvs")
    ap.add_argument("--uv")
    ap.add_argument("--conda", help="a real conda (its root's .condarc names the channel)")
    ap.add_argument("--rattler", action="store_true",
                    help="the kernels binary has the rattler backend (cargo feature rattler)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--fast-runs", type=int, default=30)
    a = ap.parse_args()
    b = Bench(a)
    print(f"kernels add vs the manual recipes (warm caches; {a.runs} alternating runs after "
          "one warm-up)")
    print(f"  base Python {a.python}; uv {a.uv or '(none)'}; conda {a.conda or '(none)'}",
          flush=True)
    results = {}
    results["first"] = b.first_add()
    b.make_install_env()
    cases = b.cases()
    for _, _, once in cases:  # warm-up: caches and page cache for every path
        b.reset()
        once()
    times = {key: [] for key, _, _ in cases}
    for _ in range(a.runs):  # alternate, so load on the machine hits every case alike
        for key, _, once in cases:
            b.reset()
            times[key].append(once())
    for key, label, _ in cases:
        results[key] = report(label, times[key])
    print(f"  {'first kernels add of a user (provisions uv once)':<52} {fmt(results['first']):>16}"
          "  (1 run)")
    b.reset()
    rerun_env = b.with_uv or b.no_uv
    run(b.add, rerun_env)
    results["rerun"] = series("kernels add, satisfied re-run", a.fast_runs,
                              lambda: run(b.add, rerun_env))
    envs_timings(b, results)
    ok = targets(results, bool(a.conda), bool(b.with_uv), a.rattler)
    b.reset()
    shutil.rmtree(b.tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
