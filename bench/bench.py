"""`make bench`: labrnn's training speed beside the naive reference, in one run.

Each contender trains m = 100, seq_length = 25, float64 in its own subprocess
(so peak memory is its own), on the default corpus (K = 65) and on a generated
one with K = 100 (the output products grow with K); rounds interleave the
contenders so that a noisy neighbour slows all of them alike.  Medians are
quoted, with the ratio to the naive reference, and the machine's load.  Then
what sampling every 1,000 steps costs against every 10,000, and the memory of
a 100 MB corpus.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = {"naive": 300, "numpy": 1000, "numba": 4000}
LABELS = {"naive": "naive reference (per step)", "numpy": "labrnn numpy engine", "numba": "labrnn numba engine"}
EXTRA = "àáâäæçèéêëìíîïñòóôöøùúûüýÿœßÀÉÖÜÇÑØ"      # 35 letters more than the Bible's 65 characters
SAMPLING = {"every 10,000": 10_000, "every 1,000": 1_000}
SAMPLING_STEPS = 20_000


def wide_corpus(path: str) -> dict:
    """The Bible with 2% of its letters replaced by one of 35 accented ones (seeded): K = 100.

    Run in a child, like every measurement: Linux carries a parent's peak RSS into the children it starts.
    """
    import numpy as np

    import labrnn
    codes = np.frombuffer(labrnn.load_corpus().text.encode("utf-32-le"), dtype=np.uint32).copy()
    rng = np.random.default_rng(0)
    letter = ((codes | 0x20) >= ord("a")) & ((codes | 0x20) <= ord("z"))
    where = np.flatnonzero(letter & (rng.random(len(codes)) < 0.02))
    codes[where] = rng.choice(np.array([ord(ch) for ch in EXTRA], dtype=np.uint32), len(where))
    Path(path).write_text(codes.tobytes().decode("utf-32-le"), encoding="utf-8")
    return {"K": labrnn.load_corpus(path).K}


def warm_up() -> dict:
    """Compile the numba kernels (once per install) before any contender's clock starts, saying so."""
    import labrnn
    from labrnn.kernels import compiling
    with compiling(lambda line: print(line, file=sys.stderr, flush=True)) as compiled:
        labrnn.train(labrnn.load_corpus(), labrnn.Settings(steps=10, sample_len=1, best_len=1), progress=False)
    return {"compiled": compiled.happened}


def measure(contender: str, steps: int, data: str | None) -> dict:
    import numpy as np

    import labrnn
    from labrnn import Settings, reference, train

    corpus = labrnn.load_corpus(data)
    if contender == "naive":
        params = labrnn.init_params(corpus.K, 100, 0.01, np.random.default_rng(1))
        reference.train_steps(params, corpus.data.astype(np.int64)[:10_000], 10)     # warm up
        t0 = time.perf_counter()
        reference.train_steps(params, corpus.data.astype(np.int64), steps)
        rate = steps / (time.perf_counter() - t0)
    else:
        settings = Settings(steps=steps, sample_every=10 ** 9, sample_len=1, best_len=1, engine=contender)
        rate = train(corpus, settings, progress=False).steps_per_second
    return {"steps_per_second": rate, "K": corpus.K,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def sampling(every: int) -> dict:
    """A default-corpus run of SAMPLING_STEPS steps sampling every `every` steps: where its time goes."""
    import labrnn
    run = labrnn.train(labrnn.load_corpus(), labrnn.Settings(steps=SAMPLING_STEPS, sample_every=every),
                       progress=False)
    return {"samples": len(run.samples), "wall": run.wall_seconds, "updating": run.train_seconds,
            "sampling": run.sample_seconds, "scoring": run.eval_seconds}


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


def _child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--one", choices=STEPS, help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--sampling", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--big", metavar="PATH", help=argparse.SUPPRESS)
    ap.add_argument("--wide", metavar="PATH", help=argparse.SUPPRESS)
    ap.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.warm:
        print(json.dumps(warm_up()))
        return
    if args.wide:
        print(json.dumps(wide_corpus(args.wide)))
        return
    if args.one:
        print(json.dumps(measure(args.one, STEPS[args.one], args.data)))
        return
    if args.sampling:
        print(json.dumps(sampling(args.sampling)))
        return
    if args.big:
        print(json.dumps(big_corpus(args.big)))
        return

    subprocess.run([sys.executable, __file__, "--warm"], check=True, stdout=subprocess.DEVNULL)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        wide = Path(tmp) / "k100.txt"
        _child("--wide", str(wide))
        corpora = {"default corpus": [], "generated corpus": ["--data", str(wide)]}
        results = {c: {name: [] for name in STEPS} for c in corpora}
        for r in range(args.rounds):
            for c, data in corpora.items():
                for name in STEPS:
                    results[c][name].append(_child("--one", name, *data))
            print(f"round {r + 1}/{args.rounds}: " + "; ".join(
                f"{c}: " + ", ".join(f"{n} {results[c][n][-1]['steps_per_second']:,.0f}" for n in STEPS)
                for c in corpora), file=sys.stderr)
    load_after = os.getloadavg()

    print(f"\ntraining speed, m=100, seq_length=25, float64; median of {args.rounds} rounds; load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after (1 minute), {os.cpu_count()} cores")
    for c in corpora:
        K = results[c]["naive"][0]["K"]
        base = statistics.median(x["steps_per_second"] for x in results[c]["naive"])
        print(f"\n{c}, K = {K}")
        print(f"{'contender':<28}{'steps/s':>10}{'x naive':>10}{'peak RSS':>12}   rounds (x naive)")
        for name in STEPS:
            rates = [x["steps_per_second"] for x in results[c][name]]
            ratios = [x / n["steps_per_second"] for x, n in zip(rates, results[c]["naive"])]
            rate, rss = statistics.median(rates), statistics.median(x["peak_rss_mib"] for x in results[c][name])
            print(f"{LABELS[name]:<28}{rate:>10,.0f}{rate / base:>9.2f}x{rss:>9.0f} MiB   "
                  + " ".join(f"{x:.1f}" for x in ratios))

    print(f"\nsampling cost, default corpus, {SAMPLING_STEPS:,} steps, samples of 200 characters scored on "
          f"10,000 held-out characters; median of 3 rounds")
    print(f"{'SAMPLE_EVERY':<16}{'samples':>8}{'wall s':>9}{'updating':>10}{'sampling':>10}{'scoring':>9}")
    runs = {label: [] for label in SAMPLING}
    for _ in range(3):
        for label, every in SAMPLING.items():
            runs[label].append(_child("--sampling", str(every)))
    for label, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        print(f"{label:<16}{med['samples']:>8.0f}{med['wall']:>9.2f}{med['updating']:>10.2f}"
              f"{med['sampling']:>10.2f}{med['scoring']:>9.2f}")

    import labrnn
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.txt"
        bible = labrnn.load_corpus().text
        with path.open("w", encoding="utf-8") as fh:
            for _ in range(-(-100_000_000 // len(bible))):
                fh.write(bible)
        big = _child("--big", str(path))
    print(f"\nbig corpus ({big['size'] / 1e6:.0f} M characters): loaded and indexed in "
          f"{big['load_seconds']:.1f} s; peak RSS over load + 2,000 steps {big['peak_rss_mib']:.0f} MiB "
          f"(limit 1,024 MiB)")


if __name__ == "__main__":
    main()
