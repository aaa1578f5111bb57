"""The `labrnn` command: train, gradcheck, report and sweep.

Every foreseeable failure (a bad corpus, impossible hyperparameters) ends as
one line `labrnn <command>: error: ...` and exit code 2, before anything is
written.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
import warnings
from dataclasses import fields
from pathlib import Path

from . import __version__
from .corpus import CorpusError, load_corpus
from .execute import CELL_TIMEOUT, START_TIMEOUT
from .gradcheck import gradcheck
from .report import FORMATS, Params, ReportError, make_report
from .rundir import run_name, save_run
from .sweep import SWEPT, cores, grid, make_sweep
from .train import CheckpointError, Config, ConfigError, Trainer


def _number(kind):
    def parse(text: str):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a{'n integer' if kind is int else ' number'}: {text!r}")
    parse.__name__ = kind.__name__
    return parse


def _several(kind):
    """Space-separated values of one setting, for a sweep: "0.05 0.1 0.2"."""
    one = _number(kind)

    def parse(text: str):
        values = [one(v) for v in text.split()]
        if not values:
            raise argparse.ArgumentTypeError(f"no value given: {text!r}")
        return values
    parse.__name__ = kind.__name__
    return parse


REPORT_SETTINGS = [
    ("--eta", "eta", float, "learning rate"),
    ("--seq", "seq", int, "characters per update, seq_length"),
    ("--m", "m", int, "hidden units"),
    ("--sigma", "sigma", float, "std of the initial U, W, V"),
    ("--steps", "steps", int, "update steps"),
    ("--epochs", "epochs", int, "passes over the corpus (overrides --steps)"),
    ("--seed", "seed", int, "drives every random draw"),
    ("--sample-every", "sample_every", int, "sample every N steps"),
    ("--sample-until", "sample_until", int, "last step with a periodic sample"),
    ("--sample-len", "sample_len", int, "characters per sample"),
    ("--best-len", "best_len", int, "characters from the best model"),
    ("--grad-m", "grad_m", int, "hidden units of the gradient check's network"),
]


def _add_corpus(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="PATH", help="a UTF-8 text file (default: the built-in King James Bible)")
    p.add_argument("--keep-cr", action="store_true", help="keep carriage returns instead of normalizing to \\n")


def _add_report_options(p: argparse.ArgumentParser) -> None:
    """What report and sweep share beyond the settings: retraining, formats, the notebooks' time limits."""
    p.add_argument("--force", action="store_true", help="train again even if the run is cached")
    p.add_argument("--resume", action="store_true", help="continue interrupted training")
    p.add_argument("--format", default="html", type=_formats,
                   help="output formats, space-separated: html, pdf (report.html is always written)")
    p.add_argument("--start-timeout", type=_seconds, default=START_TIMEOUT, metavar="S",
                   help="seconds a notebook's kernel may take to start (default %(default)s)")
    p.add_argument("--cell-timeout", type=_seconds, default=CELL_TIMEOUT, metavar="S",
                   help="seconds one notebook cell may run (default %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labrnn", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"labrnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,gradcheck,report,sweep}")

    d = Config()
    t = sub.add_parser("train", help="train the RNN with AdaGrad and write a run directory",
                       description="Train with AdaGrad; every flag defaults to the value shown. "
                                   "With --resume, settings come from the checkpoint.")
    _add_corpus(t)
    hyper = [
        ("--eta", "eta", float, "learning rate"),
        ("--seq", "seq_length", int, "characters per update, seq_length"),
        ("--m", "m", int, "hidden units"),
        ("--sigma", "sigma", float, "std of the initial U, W, V"),
        ("--seed", "seed", int, "drives every random draw"),
        ("--sample-every", "sample_every", int, "synthesize text every N steps"),
        ("--sample-until", "sample_until", int, "stop the periodic samples at step N; training goes on"),
        ("--sample-len", "sample_len", int, "characters per sample"),
        ("--best-len", "best_len", int, "characters from the best model"),
        ("--temperature", "temperature", float, "divides the scores before the softmax; 1 samples p itself"),
        ("--holdout", "holdout", float, "share of the corpus's end kept out of training for the held-out loss"),
    ]
    for flag, dest, kind, text in hyper:
        t.add_argument(flag, dest=dest, type=_number(kind), default=None,
                       help=f"{text} (default {getattr(d, dest)})")
    length = t.add_mutually_exclusive_group()
    length.add_argument("--steps", type=_number(int), help=f"update steps (default {d.steps})")
    length.add_argument("--epochs", type=_number(int), help="passes over the corpus (overrides --steps)")
    t.add_argument("--keep-going", action="store_true", default=None,
                   help="train on when the loss diverges (a NaN still stops the run)")
    t.add_argument("--out", metavar="DIR", help="run directory (default: runs/<name from the settings>)")
    t.add_argument("--resume", metavar="DIR", help="continue the interrupted run in DIR from its checkpoint")
    t.add_argument("--checkpoint-every", type=_number(int), default=5_000, metavar="N",
                   help="save a checkpoint every N steps and at every sample (default %(default)s; 0: never)")
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

    r = sub.add_parser("report", help="train (or reuse) a run and render reports/<run>/report.html",
                       description="Train once, execute the four notebooks, export one self-contained "
                                   "report.html and rebuild reports/index.html.")
    r.print_usage = lambda file=None: None      # bad input from `make report`: one line, no usage block
    rd = Params()
    for flag, dest, kind, text in REPORT_SETTINGS:
        r.add_argument(flag, dest=dest, type=_number(kind), default=getattr(rd, dest),
                       help=f"{text} (default {getattr(rd, dest)})")
    r.add_argument("--data", metavar="PATH", help="a UTF-8 text file (default: the built-in King James Bible)")
    r.add_argument("--run-dir", metavar="DIR", help="report directory (default: reports/<name from the settings>)")
    _add_report_options(r)

    s = sub.add_parser("sweep", help="one report per combination of values, in parallel, and a comparison",
                       description="Make the report of every combination of the values given (ETA, SEQ, M, "
                                   "SIGMA and SEED take several, space-separated), several at a time, then "
                                   "reports/sweep-<name>/comparison.html.")
    s.print_usage = lambda file=None: None
    for flag, dest, kind, text in REPORT_SETTINGS:
        several = dest in SWEPT
        s.add_argument(flag, dest=dest, type=_several(kind) if several else _number(kind),
                       default=[getattr(rd, dest)] if several else getattr(rd, dest),
                       help=f"{text}{', one or more values' if several else ''} (default {getattr(rd, dest)})")
    s.add_argument("--data", metavar="PATH", help="a UTF-8 text file (default: the built-in King James Bible)")
    s.add_argument("--run-dir", metavar="DIR", default="reports",
                   help="where the reports and sweep-<name>/ go (default: %(default)s)")
    _add_report_options(s)
    s.add_argument("--jobs", type=_number(int), metavar="N",
                   help=f"reports made at once (default: the number of cores, here {cores()})")
    return parser


def _formats(text: str) -> tuple[str, ...]:
    formats = tuple(text.split())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise argparse.ArgumentTypeError(f"unknown format {' '.join(unknown) or repr(text)}; "
                                         f"available: {', '.join(FORMATS)}")
    return formats


def _seconds(text: str) -> int:
    seconds = _number(int)(text)
    if seconds < 1:
        raise argparse.ArgumentTypeError(f"a time limit must be at least 1 second, got {seconds}")
    return seconds


SETTINGS = ("eta", "seq_length", "m", "sigma", "steps", "epochs", "seed", "sample_every",
            "sample_until", "sample_len", "best_len", "temperature", "holdout", "keep_going", "keep_cr")


def _given(args) -> dict:
    """The settings named on the command line (argparse leaves the others None)."""
    given = {k: v for k in SETTINGS if (v := getattr(args, k)) is not None and v is not False}
    if "epochs" in given:
        given["steps"] = None
    return given


def _load(path, keep_cr):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        corpus = load_corpus(path, keep_cr=keep_cr)
    for w in caught:
        print(f"labrnn: warning: {w.message}", file=sys.stderr)
    return corpus


def _resume(args, fail):
    """A trainer from the checkpoint in --resume; flags may repeat it but not contradict it."""
    out = Path(args.resume)
    meta = Trainer.read_meta(out)
    saved = meta["config"]
    for key, value in _given(args).items():
        if key in saved and saved[key] != value:
            fail(f"--{key.replace('_', '-')} {value} contradicts the checkpoint in {out}, "
                 f"which has {saved[key]}; drop the flag to resume")
    corpus = _load(args.data or meta["corpus"]["path"], saved["keep_cr"])
    return out, Trainer.resume(out, corpus)


def cmd_train(args, fail) -> int:
    try:
        if args.resume:
            out, trainer = _resume(args, fail)
            if trainer.finished:
                print(f"the run in {out} is complete ({trainer.step:,} steps); nothing to resume",
                      file=sys.stderr)
                return 0
        else:
            config = Config(**_given(args))
            corpus = _load(args.data, config.keep_cr)
            trainer = Trainer(corpus, config, args.engine)
            out = Path(args.out) if args.out else Path("runs") / run_name(config, corpus.info())
            if out.exists() and not out.is_dir():
                fail(f"--out {out} exists and is not a directory")
    except (ConfigError, CorpusError, CheckpointError) as err:
        fail(str(err))
    corpus = trainer.corpus
    print(f"corpus: {corpus.name}, {corpus.size:,} characters, K = {corpus.K}", file=sys.stderr)
    if args.resume:
        print(f"resuming {out} at step {trainer.step:,} of {trainer.total:,}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    run = trainer.run(progress=not args.quiet, out=out, checkpoint_every=args.checkpoint_every)
    save_run(run, out)
    if run.diverged:
        print(f"labrnn: training diverged at step {run.diverged['step']:,}: {run.diverged['reason']}; "
              f"stopped there (--keep-going trains on)", file=sys.stderr)
    state = "interrupted at" if run.interrupted else "done:"
    print(f"{state} {run.steps_done:,} steps ({run.epochs_done:g} epochs), "
          f"{run.steps_per_second:,.0f} steps/s; best smooth loss {run.best['smooth_loss']:.2f} "
          f"at step {run.best['step']:,}", file=sys.stderr)
    if run.interrupted:
        print(f"resume with: labrnn train --resume {out}", file=sys.stderr)
    print(out)
    return 130 if run.interrupted else 0


def cmd_gradcheck(args, fail) -> int:
    if not (math.isfinite(args.h) and args.h > 0):
        fail(f"h must be a positive finite number, got {args.h!r}")
    if args.m < 1 or args.seq_length < 1:
        fail("m and seq must be at least 1")
    try:
        corpus = _load(args.data, args.keep_cr)
        result = gradcheck(corpus, m=args.m, seq_length=args.seq_length, seed=args.seed, h=args.h)
    except (CorpusError, ValueError) as err:
        fail(str(err))
    print(result.table())
    return 0 if result.passed else 1


def _time_limits(args) -> dict:
    return {"start_timeout": args.start_timeout, "cell_timeout": args.cell_timeout}


def cmd_report(args, fail) -> int:
    try:
        params = Params(**{k: getattr(args, k) for k in
                           ("eta", "seq", "m", "sigma", "steps", "epochs", "seed", "data", "sample_every",
                            "sample_until", "sample_len", "best_len", "grad_m")})
        path = make_report(params, run_dir=args.run_dir, force=args.force, resume=args.resume,
                           formats=args.format, **_time_limits(args))
    except (ConfigError, CorpusError) as err:
        fail(str(err))
    except ReportError as err:
        print(f"labrnn report: error: {err}", file=sys.stderr)
        return 1
    print(path)
    return 0


def cmd_sweep(args, fail) -> int:
    if args.jobs is not None and args.jobs < 1:
        fail(f"--jobs must be at least 1, got {args.jobs}")
    settings = {f.name: getattr(args, f.name) for f in fields(Params)}
    try:
        combos = grid({n: settings.pop(n) for n in SWEPT}, **settings)
        result = make_sweep(combos, args.run_dir, jobs=args.jobs, force=args.force, resume=args.resume,
                            formats=args.format, time_limits=_time_limits(args))
    except (ConfigError, CorpusError) as err:
        fail(str(err))
    if result.comparison:
        print(result.comparison)
    return 1 if result.failed else 0


SWITCH = {"1": True, "yes": True, "true": True, "on": True, "0": False, "no": False, "false": False, "off": False}


def from_make(command: str, sub: argparse.ArgumentParser, words: list[str]) -> list[str]:
    """make's NAME=VALUE words as the command's flags: ETA=0.1 -> --eta=0.1, FORCE=1 -> --force.

    `--flag=value` binds the value whatever it holds (a leading dash, quotes, spaces); an empty
    value leaves the setting at its default; a name the command has no flag for is refused.
    """
    flags = {opt: action for action in sub._actions for opt in action.option_strings
             if opt.startswith("--") and opt not in ("--help", "--from-make")}
    argv = []
    for word in words:
        name, _, value = word.partition("=")
        flag = "--" + name.lower().replace("_", "-")
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name) or flag not in flags:
            known = " ".join(sorted(f[2:].upper().replace("-", "_") for f in flags))
            sub.error(f"make {command} has no variable {name!r}; it knows {known}")
        if value == "":
            continue
        if flags[flag].nargs == 0:                    # a switch: FORCE=1 turns it on, FORCE=0 leaves it off
            if value.lower() not in SWITCH:
                sub.error(f"{name} takes 1/yes/true/on or 0/no/false/off, got {value!r}")
            argv += [flag] if SWITCH[value.lower()] else []
        else:
            argv.append(f"{flag}={value}")
    return argv


def main(argv=None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    subparsers = parser._subparsers._group_actions[0].choices
    if argv[1:2] == ["--from-make"] and argv[0] in subparsers:
        argv = [argv[0], *from_make(argv[0], subparsers[argv[0]], argv[2:])]
    args = parser.parse_args(argv)
    sub = subparsers[args.command]
    commands = {"train": cmd_train, "gradcheck": cmd_gradcheck, "report": cmd_report, "sweep": cmd_sweep}
    try:
        return commands[args.command](args, sub.error)
    except KeyboardInterrupt:
        print("labrnn: interrupted", file=sys.stderr)
        return 130
    except OSError as err:                  # a full disk, a read-only directory: say which file, not a traceback
        where = f": {err.filename}" if err.filename else ""
        print(f"labrnn {args.command}: error: {err.strerror or err}{where}; nothing was written over "
              "earlier results", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
