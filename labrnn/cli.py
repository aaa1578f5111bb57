"""The `labrnn` command: train, gradcheck (and report, once notebooks render it).

Every foreseeable failure (a bad corpus, impossible hyperparameters) ends as
one line `labrnn <command>: error: ...` and exit code 2, before anything is
written.
"""
from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

from . import __version__
from .corpus import CorpusError, load_corpus
from .gradcheck import gradcheck
from .rundir import run_name, save_run
from .train import Config, ConfigError, train


def _number(kind):
    def parse(text: str):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a{'n integer' if kind is int else ' number'}: {text!r}")
    parse.__name__ = kind.__name__
    return parse


def _add_corpus(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="PATH", help="a UTF-8 text file (default: the built-in King James Bible)")
    p.add_argument("--keep-cr", action="store_true", help="keep carriage returns instead of normalizing to \\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labrnn", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"labrnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,gradcheck}")

    d = Config()
    t = sub.add_parser("train", help="train the RNN with AdaGrad and write a run directory")
    _add_corpus(t)
    t.add_argument("--eta", type=_number(float), default=d.eta, help="learning rate (default %(default)s)")
    t.add_argument("--seq", dest="seq_length", type=_number(int), default=d.seq_length,
                   help="characters per update, seq_length (default %(default)s)")
    t.add_argument("--m", type=_number(int), default=d.m, help="hidden units (default %(default)s)")
    t.add_argument("--sigma", type=_number(float), default=d.sigma,
                   help="std of the initial U, W, V (default %(default)s)")
    length = t.add_mutually_exclusive_group()
    length.add_argument("--steps", type=_number(int), default=d.steps, help="update steps (default %(default)s)")
    length.add_argument("--epochs", type=_number(int), help="passes over the corpus (overrides --steps)")
    t.add_argument("--seed", type=_number(int), default=d.seed, help="drives every random draw (default %(default)s)")
    t.add_argument("--sample-every", type=_number(int), default=d.sample_every,
                   help="synthesize text every N steps (default %(default)s)")
    t.add_argument("--sample-until", type=_number(int), metavar="N",
                   help="stop the periodic samples at step N; training goes on (default: never)")
    t.add_argument("--sample-len", type=_number(int), default=d.sample_len,
                   help="characters per sample (default %(default)s)")
    t.add_argument("--best-len", type=_number(int), default=d.best_len,
                   help="characters from the best model (default %(default)s)")
    t.add_argument("--temperature", type=_number(float), default=d.temperature,
                   help="divides the scores before the softmax; 1 samples p itself (default %(default)s)")
    t.add_argument("--out", metavar="DIR", help="run directory (default: runs/<name from the settings>)")
    t.add_argument("--engine", choices=("numba", "numpy"), default="numba",
                   help="numba (fast, default) or numpy (the readable reference)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    g = sub.add_parser("gradcheck", help="compare analytic and numerical gradients on a small network")
    _add_corpus(g)
    g.add_argument("--m", type=_number(int), default=5, help="hidden units of the small network (default 5)")
    g.add_argument("--seq", dest="seq_length", type=_number(int), default=25,
                   help="sequence length (default %(default)s)")
    g.add_argument("--seed", type=_number(int), default=1, help="initialization seed (default %(default)s)")
    g.add_argument("--h", type=_number(float), default=1e-4, help="finite-difference step (default %(default)s)")
    return parser


def _config(args) -> Config:
    return Config(eta=args.eta, seq_length=args.seq_length, m=args.m, sigma=args.sigma,
                  steps=None if args.epochs is not None else args.steps, epochs=args.epochs,
                  seed=args.seed, sample_every=args.sample_every, sample_until=args.sample_until,
                  sample_len=args.sample_len, best_len=args.best_len, temperature=args.temperature,
                  keep_cr=args.keep_cr)


def _load(args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        corpus = load_corpus(args.data, keep_cr=args.keep_cr)
    for w in caught:
        print(f"labrnn: warning: {w.message}", file=sys.stderr)
    return corpus


def cmd_train(args, fail) -> int:
    try:
        config = _config(args)
        corpus = _load(args)
        config.check_corpus(corpus)
    except (ConfigError, CorpusError) as err:
        fail(str(err))
    out = Path(args.out) if args.out else Path("runs") / run_name(config, corpus.info())
    if out.exists() and not out.is_dir():
        fail(f"--out {out} exists and is not a directory")
    print(f"corpus: {corpus.name}, {corpus.size:,} characters, K = {corpus.K}", file=sys.stderr)
    run = train(corpus, config, progress=not args.quiet, engine=args.engine)
    save_run(run, out)
    state = "interrupted at" if run.interrupted else "done:"
    print(f"{state} {run.steps_done:,} steps ({run.epochs_done:g} epochs), "
          f"{run.steps_per_second:,.0f} steps/s; best smooth loss {run.best['smooth_loss']:.2f} "
          f"at step {run.best['step']:,}", file=sys.stderr)
    print(out)
    return 130 if run.interrupted else 0


def cmd_gradcheck(args, fail) -> int:
    if not (math.isfinite(args.h) and args.h > 0):
        fail(f"h must be a positive finite number, got {args.h!r}")
    if args.m < 1 or args.seq_length < 1:
        fail("m and seq must be at least 1")
    try:
        corpus = _load(args)
        result = gradcheck(corpus, m=args.m, seq_length=args.seq_length, seed=args.seed, h=args.h)
    except (CorpusError, ValueError) as err:
        fail(str(err))
    print(result.table())
    return 0 if result.passed else 1


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    sub = parser._subparsers._group_actions[0].choices[args.command]
    commands = {"train": cmd_train, "gradcheck": cmd_gradcheck}
    try:
        return commands[args.command](args, sub.error)
    except KeyboardInterrupt:
        print("labrnn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
