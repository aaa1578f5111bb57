"""`make bench-sweep`: a parallel sweep against the same reports made one after another.

Four combinations (eta 0.05 0.1 x seq 20 25) at 20,000 steps on the default corpus,
both arms from scratch (--force, each in a fresh temporary reports directory):
(a) one `labrnn report` per combination, one after another, as without sweeps;
(b) one `labrnn sweep` on its own Dask cluster of a worker per core (starting it included).  With --rounds > 1 the arms
alternate, so a busy neighbour slows both alike, and medians are quoted.
The issue's bound: parallel / sequential <= 0.65 on 2 cores.
"""
from __future__ import annotations

import argparse
import itertools
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labrnn.sweeps.cluster import cores

LABRNN = str(Path(sys.executable).parent / "labrnn")
TARGET = 0.65


def cpu_seconds() -> float:
    """CPU time of every finished child process and its finished descendants (workers, notebook kernels)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(commands: list[list[str]], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of the commands run one after another; a failing one ends the bench with its message.

    CPU time says whether a slow sweep did more work or just got less of the machine (a busy neighbour)."""
    cwd.mkdir()
    t0, c0 = time.perf_counter(), cpu_seconds()
    for cmd in commands:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"bench-sweep: {' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - t0, cpu_seconds() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eta", default="0.05 0.1")
    ap.add_argument("--seq", default="20 25")
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--jobs", type=int, default=cores())
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    common = ["--steps", str(args.steps), "--force"]
    one_by_one = [[LABRNN, "report", "--eta", eta, "--seq", seq, *common]
                  for eta, seq in itertools.product(args.eta.split(), args.seq.split())]
    sweep = [[LABRNN, "sweep", "--eta", args.eta, "--seq", args.seq, *common, "--jobs", str(args.jobs)]]
    times, cpu = {"sequential": [], "parallel": []}, {"sequential": [], "parallel": []}
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="labrnn-bench-sweep-") as tmp:
            arms = [("sequential", one_by_one), ("parallel", sweep)]
            for arm, commands in arms if r % 2 == 0 else arms[::-1]:
                wall, used = timed(commands, Path(tmp) / arm)
                times[arm].append(wall)
                cpu[arm].append(used)
        print(f"round {r + 1}/{args.rounds}: one after another {times['sequential'][-1]:.1f} s, "
              f"sweep {times['parallel'][-1]:.1f} s; load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    seq_t, par_t = statistics.median(times["sequential"]), statistics.median(times["parallel"])
    seq_c, par_c = statistics.median(cpu["sequential"]), statistics.median(cpu["parallel"])
    ratio = par_t / seq_t
    what = "median of " if args.rounds > 1 else ""
    print(f"\nsweep of {len(one_by_one)} combinations (eta {args.eta} x seq {args.seq}), {args.steps:,} steps each, "
          f"default corpus, {args.jobs} jobs on {cores()} cores; {what}{args.rounds} round(s)")
    print(f"one after another ({len(one_by_one)} x labrnn report)  {seq_t:7.1f} s   (CPU {seq_c:.1f} s)")
    print(f"parallel (labrnn sweep --jobs {args.jobs})        {par_t:7.1f} s   (CPU {par_c:.1f} s)")
    print(f"ratio parallel / sequential: {ratio:.2f} (target <= {TARGET}: {'met' if ratio <= TARGET else 'MISSED'})")


if __name__ == "__main__":
    main()
