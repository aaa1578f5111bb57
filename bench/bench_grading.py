"""What labrnn adds to a training step of a student's model, at the lab's sizes (m = 100, K = 80, seq_length = 25).

Their loss_and_grads is timed called in-process (what their own training loop pays) and through labrnn as a
sweep runs it: confined in its sandbox, behind the socket, its reply checked, labrnn's forward pass and the
comparisons of `labrnn.student.grading.Grader` around it.  The difference of the medians, in interleaved rounds, is what
labrnn adds per step (issue 20's bound: at most 1 ms).  Two students' styles: a vectorized numpy function (the
fastest a student writes, so the most of labrnn's share shows) and the classic column-vector loop.

    .venv/bin/python bench/bench_grading.py [--rounds 7] [--calls 300]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
from pathlib import Path

import numpy as np

from labrnn.student.grading import Grader
from labrnn.rnn.model import init_params
from labrnn.student.sandbox import Sandbox, read_model

M, K, T = 100, 80, 25
MODELS = Path(__file__).resolve().parent.parent / "tests" / "models"
STYLES = {"vectorized": MODELS / "reference_rnn.py", "column loop": MODELS / "correct_columns.py"}


def in_process(path: Path):
    """Their function imported here, as their own notebook would run it (our own test file: trusted)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.loss_and_grads


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
    args = (params, x, y, h0)
    print(f"m = {M}, K = {K}, seq_length = {T}; {a.rounds} interleaved rounds of {a.calls} calls; "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for style, path in STYLES.items():
        with Sandbox(read_model(str(path))) as sandbox:
            grader = Grader(sandbox)
            grader.plan(seed=1, total=10**9, clip=5.0)         # its checked steps lie far beyond these calls
            grader.step = 1
            contenders = {"in-process": in_process(path), "graded in its sandbox": grader}
            times = {name: [] for name in contenders}
            for fn in contenders.values():
                per_call(fn, args, 20)                                         # warm up
            for _ in range(a.rounds):
                for name, fn in contenders.items():
                    times[name].append(per_call(fn, args, a.calls))
        med = {k: statistics.median(v) for k, v in times.items()}
        added = med["graded in its sandbox"] - med["in-process"]
        print(f"{style} ({path.name}):")
        for name, v in times.items():
            print(f"  {name:<24} {med[name] * 1e3:7.3f} ms per step "
                  f"(rounds: {', '.join(f'{t * 1e3:.3f}' for t in v)})")
        ratio = med["graded in its sandbox"] / med["in-process"]
        print(f"  labrnn adds {added * 1e3:.3f} ms per step (median), {ratio:.2f}× "
              f"their in-process call")


if __name__ == "__main__":
    main()
