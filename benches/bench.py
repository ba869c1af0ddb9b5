"""A tiny benchmark harness shared by the bench scripts: runs commands repeatedly, prints
medians, ratios and peak memory. No third-party packages.

    python3 benches/bench.py --runs 30 --env KEY=VALUE ... \
        --case NAME -- CMD ARGS... \
        --case NAME2 -- CMD2 ARGS...

Each case's argv runs with stdout/stderr discarded; a non-zero exit aborts the benchmark.
Peak memory is the max RSS of one extra run under GNU time (n/a without /usr/bin/time).
Ratios are printed against the first case.
"""

import argparse
import os
import shutil
import subprocess
import statistics
import sys
import time


def run_once(argv, env, cwd):
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        out = proc.stdout.decode(errors="replace")[-3000:]
        err = proc.stderr.decode(errors="replace")[-3000:]
        sys.exit(f"benchmark command failed (exit {proc.returncode}): {' '.join(argv)}\n{out}\n{err}")
    return elapsed


def peak_rss_kib(argv, env, cwd):
    """Peak RSS of one run, from GNU time (a fork of this Python would count our own memory)."""
    gnu_time = shutil.which("time", path="/usr/bin:/bin")
    if not gnu_time:
        return None
    proc = subprocess.run([gnu_time, "-f", "%M", *argv], env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    try:
        return int(proc.stderr.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def measure(argv, runs, env, cwd, warmup=2):
    for _ in range(warmup):
        run_once(argv, env, cwd)
    times = [run_once(argv, env, cwd) for _ in range(runs)]
    return statistics.median(times), peak_rss_kib(argv, env, cwd)


def fmt(seconds):
    return f"{seconds * 1000:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main():
    argv = sys.argv[1:]
    if "--case" not in argv:
        sys.exit(__doc__)
    head = argv[: argv.index("--case")]
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--cwd", default=None)
    opts = parser.parse_args(head)
    env = dict(os.environ)
    for kv in opts.env:
        k, _, v = kv.partition("=")
        env[k] = v
    cases = []
    rest = argv[len(head):]
    while rest:
        assert rest[0] == "--case" and rest[2] == "--", "expected --case NAME -- CMD..."
        name = rest[1]
        rest = rest[3:]
        end = rest.index("--case") if "--case" in rest else len(rest)
        cases.append((name, rest[:end]))
        rest = rest[end:]
    results = []
    for name, cmd in cases:
        median, peak = measure(cmd, opts.runs, env, opts.cwd, opts.warmup)
        results.append((name, median, peak))
    base = results[0][1]
    width = max(len(n) for n, _, _ in results)
    print(f"{'case':<{width}}  {'median':>12}  {'vs first':>10}  {'peak RSS':>10}   ({opts.runs} runs)")
    for name, median, peak in results:
        ratio = median / base if base else float("nan")
        mem = f"{peak / 1024:>7.1f} MiB" if peak is not None else "      n/a"
        print(f"{name:<{width}}  {fmt(median):>12}  {ratio:>9.2f}x  {mem}")
    return results


if __name__ == "__main__":
    main()
