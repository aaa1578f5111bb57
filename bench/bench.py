"""`make bench`: labrnn's training speed beside the naive reference, in one run.

Each contender trains m = 100, seq_length = 25, float64 on the default corpus
in its own subprocess (so peak memory is its own); rounds interleave the
contenders so that a noisy neighbour slows all of them alike.  Medians are
quoted, with the ratio to the naive reference.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = {"naive": 300, "numpy": 1000, "numba": 4000}


def measure(contender: str, steps: int) -> dict:
    import numpy as np

    import labrnn
    from labrnn import reference
    from labrnn import Settings, train

    corpus = labrnn.load_corpus()
    if contender == "naive":
        params = labrnn.init_params(corpus.K, 100, 0.01, np.random.default_rng(1))
        reference.train_steps(params, corpus.data.astype(np.int64)[:10_000], 10)     # warm up
        t0 = time.perf_counter()
        reference.train_steps(params, corpus.data.astype(np.int64), steps)
        rate = steps / (time.perf_counter() - t0)
    else:
        settings = Settings(steps=steps, sample_every=10 ** 9, sample_len=1, best_len=1, engine=contender)
        train(corpus, Settings(steps=10, sample_len=1, best_len=1, engine=contender), progress=False)
        rate = train(corpus, settings, progress=False).steps_per_second
    return {"steps_per_second": rate,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def big_corpus(path: str) -> dict:
    """Load a 100 MB corpus and train 2,000 steps on it: the memory a big corpus costs."""
    import labrnn
    t0 = time.perf_counter()
    corpus = labrnn.load_corpus(path)
    trainer = labrnn.Trainer(corpus, labrnn.Settings(steps=2_000, sample_every=1_000))
    load = time.perf_counter() - t0
    trainer.run(progress=False)
    return {"load_seconds": load, "size": corpus.size,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--one", choices=STEPS, help=argparse.SUPPRESS)
    ap.add_argument("--big", metavar="PATH", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, STEPS[args.one])))
        return
    if args.big:
        print(json.dumps(big_corpus(args.big)))
        return

    results = {name: [] for name in STEPS}
    for r in range(args.rounds):
        for name in STEPS:
            out = subprocess.run([sys.executable, __file__, "--one", name], check=True,
                                 capture_output=True, text=True).stdout
            results[name].append(json.loads(out))
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(
            f"{n} {results[n][-1]['steps_per_second']:,.0f}" for n in STEPS), file=sys.stderr)

    base = statistics.median(x["steps_per_second"] for x in results["naive"])
    print(f"\ntraining speed, m=100, seq_length=25, float64, default corpus; median of {args.rounds} rounds")
    print(f"{'contender':<28}{'steps/s':>10}{'x naive':>10}{'peak RSS':>12}")
    labels = {"naive": "naive reference (per step)", "numpy": "labrnn numpy engine",
              "numba": "labrnn numba engine"}
    for name in STEPS:
        rate = statistics.median(x["steps_per_second"] for x in results[name])
        rss = statistics.median(x["peak_rss_mib"] for x in results[name])
        print(f"{labels[name]:<28}{rate:>10,.0f}{rate / base:>9.2f}x{rss:>9.0f} MiB")

    import labrnn
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.txt"
        bible = labrnn.load_corpus().text
        with path.open("w", encoding="utf-8") as fh:
            for _ in range(-(-100_000_000 // len(bible))):
                fh.write(bible)
        out = subprocess.run([sys.executable, __file__, "--big", str(path)], check=True,
                             capture_output=True, text=True).stdout
    big = json.loads(out)
    print(f"\nbig corpus ({big['size'] / 1e6:.0f} M characters): loaded and indexed in "
          f"{big['load_seconds']:.1f} s; peak RSS over load + 2,000 steps {big['peak_rss_mib']:.0f} MiB "
          f"(limit 1,024 MiB)")


if __name__ == "__main__":
    main()
