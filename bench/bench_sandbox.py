"""`python bench/bench_sandbox.py`: what running a student's file confined costs, beside the same file unconfined.

The file is labrnn's own function as a student's file (tests/models/reference_rnn.py) at the lab's sizes
(m = 100, K = 65, seq_length = 25).  Start-up is the child's start, confinement and import, and its first call;
per call is a call through the pipe less the same function called in this process.  Rounds interleave
confined and unconfined, so a noisy neighbour slows both alike; medians are quoted with their ratio and the
machine's load.  `--root DIR` measures the labrnn of another checkout beside them, for a before/after.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
MODEL = HERE / "tests" / "models" / "reference_rnn.py"
CALLS = 300


def measure(confined: bool) -> dict:
    """One round, in this process: start-up seconds, and seconds per call through the sandbox and in-process."""
    import inspect

    import numpy as np

    from labrnn.student import sandbox
    from labrnn.rnn.model import init_params, loss_and_grads
    rng = np.random.default_rng(0)
    params = init_params(65, 100, 0.01, rng)
    x = rng.integers(0, 65, 25)
    y = rng.integers(0, 65, 25)
    h0 = np.zeros(100)
    kw = {"confined": confined} if "confined" in inspect.signature(sandbox.Sandbox).parameters else {}
    t0 = time.perf_counter()
    box = sandbox.Sandbox(sandbox.read_model(str(MODEL)), **kw).start()
    box(params, x, y, h0)
    start = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(CALLS):
        box(params, x, y, h0)
    piped = (time.perf_counter() - t0) / CALLS
    box.close()
    t0 = time.perf_counter()
    for _ in range(CALLS):
        loss_and_grads(params, x, y, h0)
    direct = (time.perf_counter() - t0) / CALLS
    return {"start": start, "call": piped, "overhead": piped - direct}


def _round(root: Path, confined: bool) -> dict:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": str(root)}         # that checkout's labrnn, in this interpreter (its child too)
    done = subprocess.run([sys.executable, __file__, "--one", str(int(confined))],
                          capture_output=True, text=True, check=True, cwd=root, env=env)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--root", type=Path, help="another checkout to measure beside this one (unconfined there)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(bool(int(args.one)))))
        return
    contenders = {"confined": (HERE, True), "unconfined": (HERE, False)}
    if args.root:
        contenders[f"{args.root}"] = (args.root.resolve(), False)
    results = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, (root, confined) in contenders.items():
            results[name].append(_round(root, confined))
    load = os.getloadavg()
    print(f"{args.rounds} interleaved rounds, {CALLS} calls each, m = 100, K = 65, seq_length = 25; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    base = {k: statistics.median(r[k] for r in results["unconfined"]) for k in ("start", "call", "overhead")}
    for name, rounds in results.items():
        med = {k: statistics.median(r[k] for r in rounds) for k in ("start", "call", "overhead")}
        print(f"{name:>12}: start-up {med['start'] * 1e3:7.1f} ms ({med['start'] / base['start']:.2f}x), "
              f"per call {med['call'] * 1e3:6.3f} ms, of which the pipe {med['overhead'] * 1e3:6.3f} ms "
              f"({med['overhead'] / base['overhead']:.2f}x)")


if __name__ == "__main__":
    main()
