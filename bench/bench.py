"""`make bench`: labrnn's training speed beside two yardsticks, in one run.

The yardsticks: a classic per-step loop as course starter code writes it (`bench/classic.py`: column vectors,
one-hot inputs, dicts of states) and labrnn's naive reference (`labrnn.rnn.reference`). Each contender trains
m = 100, seq_length = 25, float64 in its own subprocess (so peak memory is its own), on generated corpora of
K = 65, 80 and 100 characters (the default corpus with 2% of its letters replaced by 0, 15 or 35 accented ones:
no book is shipped, and the output products grow with K). Rounds interleave the contenders so that a noisy
neighbour slows all of them alike; each round's rates are divided by the same round's yardstick, and the median
and the spread (lowest to highest) of those ratios are quoted, in wall time and in CPU time, with the machine's
load. Then what sampling every 1,000 steps costs against every 10,000, and the memory of a 100 MB corpus.
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

STEPS = {"classic": 300, "naive": 300, "numpy": 1000, "numba": 4000}
LABELS = {"classic": "classic loop (starter code)", "naive": "naive reference (per step)",
          "numpy": "labrnn numpy engine", "numba": "labrnn numba engine"}
YARDSTICKS = ("classic", "naive")
EXTRA = "àáâäæçèéêëìíîïñòóôöøùúûüýÿœßÀÉÖÜÇÑØ"      # 35 letters more than the Bible's 65 characters
SIZES = (65, 80, 100)
SAMPLING = {"every 10,000": 10_000, "every 1,000": 1_000}
SAMPLING_STEPS = 20_000
M, SEQ_LENGTH = 100, 25


def generated_corpus(path: str, K: int) -> dict:
    """The default corpus with 2% of its letters replaced by one of K - 65 accented ones (seeded).

    Run in a child, like every measurement: Linux carries a parent's peak RSS into the children it starts.
    """
    import numpy as np

    import labrnn
    codes = np.frombuffer(labrnn.load_corpus().text.encode("utf-32-le"), dtype=np.uint32).copy()
    extra = EXTRA[:K - 65]
    if extra:
        rng = np.random.default_rng(0)
        letter = ((codes | 0x20) >= ord("a")) & ((codes | 0x20) <= ord("z"))
        where = np.flatnonzero(letter & (rng.random(len(codes)) < 0.02))
        codes[where] = rng.choice(np.array([ord(ch) for ch in extra], dtype=np.uint32), len(where))
    Path(path).write_text(codes.tobytes().decode("utf-32-le"), encoding="utf-8")
    return {"K": labrnn.load_corpus(path).K}


def warm_up() -> dict:
    """Compile the numba kernels (once per install) before any contender's clock starts, saying so."""
    import labrnn
    from labrnn.rnn.kernels import compiling
    with compiling(lambda line: print(line, file=sys.stderr, flush=True)) as compiled:
        labrnn.train(labrnn.load_corpus(), labrnn.Settings(steps=10, sample_len=1, best_len=1), progress=False)
    return {"compiled": compiled.happened}


def _trainer(contender: str, corpus):
    """A function of n that runs n updates of `contender` on corpus, from the same initial parameters."""
    import numpy as np

    import labrnn
    from labrnn.rnn import engines, reference
    sys.path.insert(0, str(Path(__file__).parent))
    import classic

    data = corpus.data.astype(np.int64)
    params = labrnn.init_params(corpus.K, M, 0.01, np.random.default_rng(1))
    if contender == "classic":
        return lambda n: classic.train(data, corpus.K, n, M, SEQ_LENGTH)
    if contender == "naive":
        return lambda n: reference.train_steps({k: v.copy() for k, v in params.items()}, data, n, SEQ_LENGTH)
    engine = engines.get(contender)

    def run(n):
        state = engines.TrainState.start({k: v.copy() for k, v in params.items()}, n)
        engine.train(state, data, 0, n, engines.Hyperparameters(SEQ_LENGTH, eta=0.1, clip=5.0))
    return run


def measure(contender: str, steps: int, data: str) -> dict:
    """Steps per second of wall and of CPU time over `steps` updates, after a few to warm up."""
    import labrnn
    corpus = labrnn.load_corpus(data)
    run = _trainer(contender, corpus)
    run(10)
    wall, cpu = time.perf_counter(), time.process_time()
    run(steps)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"wall": steps / wall, "cpu": steps / cpu, "K": corpus.K,
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
    ap.add_argument("--training-only", action="store_true", help="skip the sampling and big-corpus measurements")
    ap.add_argument("--one", choices=STEPS, help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--sampling", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--big", metavar="PATH", help=argparse.SUPPRESS)
    ap.add_argument("--generate", nargs=2, metavar=("PATH", "K"), help=argparse.SUPPRESS)
    ap.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.warm:
        print(json.dumps(warm_up()))
    elif args.generate:
        print(json.dumps(generated_corpus(args.generate[0], int(args.generate[1]))))
    elif args.one:
        print(json.dumps(measure(args.one, STEPS[args.one], args.data)))
    elif args.sampling:
        print(json.dumps(sampling(args.sampling)))
    elif args.big:
        print(json.dumps(big_corpus(args.big)))
    else:
        training(args.rounds)
        if not args.training_only:
            sampling_table()
            big_table()


def training(rounds: int) -> None:
    """Every contender on every corpus, `rounds` interleaved rounds; the table of ratios to both yardsticks."""
    subprocess.run([sys.executable, __file__, "--warm"], check=True, stdout=subprocess.DEVNULL)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        corpora = {}
        for K in SIZES:
            path = str(Path(tmp) / f"k{K}.txt")
            corpora[_child("--generate", path, str(K))["K"]] = path
        results = {K: {name: [] for name in STEPS} for K in corpora}
        for r in range(rounds):
            for K, path in corpora.items():
                for name in STEPS:
                    results[K][name].append(_child("--one", name, "--data", path))
            print(f"round {r + 1}/{rounds} (CPU steps/s): " + "; ".join(
                f"K = {K}: " + ", ".join(f"{n} {results[K][n][-1]['cpu']:,.0f}" for n in STEPS)
                for K in corpora), file=sys.stderr)
    load_after = os.getloadavg()
    print(f"\ntraining speed, m = {M}, seq_length = {SEQ_LENGTH}, float64; {rounds} interleaved rounds; "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after (1 minute), "
          f"{os.cpu_count()} cores; ratios: median [lowest, highest] of the rounds' own ratios")
    for K, by in results.items():
        print(f"\ngenerated corpus, K = {K}")
        print(f"{'contender':<30}{'wall steps/s':>13}{'CPU steps/s':>12}{'peak RSS':>10}   "
              + "".join(f"{'x ' + y + ' (wall)':>22}{'x ' + y + ' (CPU)':>22}" for y in YARDSTICKS))
        for name in STEPS:
            rss = statistics.median(x["peak_rss_mib"] for x in by[name])
            line = (f"{LABELS[name]:<30}{statistics.median(x['wall'] for x in by[name]):>13,.0f}"
                    f"{statistics.median(x['cpu'] for x in by[name]):>12,.0f}{rss:>6.0f} MiB   ")
            for y in YARDSTICKS:
                for clock in ("wall", "cpu"):
                    line += f"{_ratios(by[name], by[y], clock):>22}"
            print(line)


def _ratios(contender: list[dict], yardstick: list[dict], clock: str) -> str:
    """'median [low, high]' of the per-round ratios of two contenders' rates."""
    ratios = [a[clock] / b[clock] for a, b in zip(contender, yardstick)]
    return f"{statistics.median(ratios):.2f} [{min(ratios):.1f}, {max(ratios):.1f}]"


def sampling_table() -> None:
    """Where a run's time goes when it samples every 1,000 steps against every 10,000."""
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


def big_table() -> None:
    """The memory a 100 MB corpus costs, loaded and trained on."""
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
