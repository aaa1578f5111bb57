"""What grading adds to a training step of a student's model, at the lab's sizes (m = 100, K = 80, seq_length = 25).

labrnn.grading.Grader runs labrnn's forward pass beside their call and compares the loss and h_last (and, at 9
steps of a run, the gradients).  Measured here: the Grader around a stand-in that answers at once (what labrnn
adds per step, nothing of theirs), beside the call of a real sandboxed file (a vectorized numpy implementation,
through the pipe), in interleaved rounds; medians per step, and the machine's load.

    .venv/bin/python bench/bench_grading.py [--rounds 7] [--calls 300]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from labrnn import grading
from labrnn.model import init_params, loss_and_grads
from labrnn.sandbox import Sandbox, read_model

M, K, T = 100, 80, 25
MODEL = Path(__file__).resolve().parent.parent / "tests" / "models" / "cheat_loss.py"   # vectorized, standalone


def per_call(fn, args, calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn(*args)
    return (time.perf_counter() - t0) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=300)
    a = parser.parse_args()
    rng = np.random.default_rng(0)
    params = init_params(K, M, 0.01, rng)
    x, y = rng.integers(0, K, T), rng.integers(0, K, T)
    h0 = np.tanh(rng.standard_normal(M))
    reply = loss_and_grads(params, x, y, h0)
    grader = grading.Grader(lambda *args: reply)
    grader.plan(seed=1, total=10**9, clip=5.0)             # its checked steps lie far beyond
    grader.step = 1
    times = {"stand-in alone": [], "Grader around the stand-in": [], "their sandboxed call": []}
    with Sandbox(read_model(str(MODEL))) as theirs:
        contenders = {"stand-in alone": (lambda *args: reply), "Grader around the stand-in": grader,
                      "their sandboxed call": theirs}
        for fn in contenders.values():
            per_call(fn, (params, x, y, h0), 20)                               # warm up
        for _ in range(a.rounds):
            for name, fn in contenders.items():
                times[name].append(per_call(fn, (params, x, y, h0), a.calls))
    med = {k: statistics.median(v) for k, v in times.items()}
    added = med["Grader around the stand-in"] - med["stand-in alone"]
    print(f"m = {M}, K = {K}, seq_length = {T}; {a.rounds} interleaved rounds of {a.calls} calls; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, v in med.items():
        print(f"  {name:<28} {v * 1e6:8.1f} µs per step (rounds: {', '.join(f'{t * 1e6:.0f}' for t in times[name])})")
    print(f"grading adds {added * 1e6:.1f} µs per step ({added * 1e3:.3f} ms), "
          f"{added / med['their sandboxed call']:.2f} of their sandboxed call")


if __name__ == "__main__":
    main()
