"""The `labrnn` command: train, gradcheck, report, sweep, compare and new-model.

Every subcommand's flags are made from `labrnn.settings`.  Every foreseeable
failure (a bad corpus, impossible settings) ends as one line
`labrnn <command>: error: ...` and exit code 2, before anything is written; a
model file of the user's that fails says where in it, with its traceback when
it raised.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import sys
import tempfile
import threading
import warnings
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from labrnn.layout import TEMPLATES
from labrnn.report.checks import check_model
from labrnn.report.run import ReportError, start_or_resume
from labrnn.report.rundir import RunDir, RunDirError, open_run
from labrnn.rnn.corpus import Corpus, CorpusError, load_corpus
from labrnn.rnn.train import CheckpointError, Run
from labrnn.settings import (
    DEFAULTS,
    NAMES,
    SWEPT,
    TYPES,
    ConfigError,
    Settings,
    base_type,
    meta,
    parse_number,
    parse_numbers,
)
from labrnn.student.sandbox import ModelError, opened, read_model, sandboxed
from labrnn.sweeps.gradebook import problems
from labrnn.version import __version__

COMMANDS = {
    "train": ("train the RNN with AdaGrad and write a run directory (default: runs/<name from the settings>)",
              "Train with AdaGrad; every flag defaults to the value shown. With --resume, settings come from "
              "the checkpoint."),
    "gradcheck": ("compare analytic and numerical gradients on a small network, and the model with labrnn's "
                  "reference", None),
    "report": ("train (or reuse) a run and render REPORTS/<run>/report.html",
               "Train once, execute the four notebooks, export one self-contained report.html and rebuild "
               "the index beside it."),
    "sweep": ("one report per combination of values, in parallel, and a comparison",
              f"Make the report of every combination of the values given ({', '.join(SWEPT)} take several, "
              "space-separated), several at a time on a Dask cluster (one started on this machine, or the "
              "--scheduler's), then REPORTS/sweep-<name>/comparison.html."),
    "compare": ("the comparison page of report directories made anywhere",
                "Compare the runs in the directories given (made by labrnn report or sweep, here or elsewhere) "
                "in REPORTS/compare-<name>/comparison.html, linked from the index."),
    "new-model": ("write a model file to start from: loss_and_grads(params, x, y, h0) to fill in",
                  "Write FILE with the signature, the shapes and the lab's equations of loss_and_grads, for "
                  "--model FILE (MODEL=FILE); an existing file is never overwritten."),
}
STARTER = TEMPLATES / "new_model.py"


def _number(kind):
    """A flag's value by labrnn's one rule for numbers (`labrnn.settings.parse_number`)."""
    def parse(text: str):
        try:
            return parse_number(text, kind)
        except ConfigError as err:
            raise argparse.ArgumentTypeError(str(err))
    parse.__name__ = kind.__name__
    return parse


def _several(kind):
    """Space-separated values of one setting, for a sweep: "0.05 0.1 0.2"."""
    def parse(text: str):
        try:
            return parse_numbers(text, kind)
        except ConfigError as err:
            raise argparse.ArgumentTypeError(str(err))
    parse.__name__ = kind.__name__
    return parse


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _add_setting(parser: argparse.ArgumentParser, command: str, name: str) -> None:
    """One setting as a flag: its name in dashes, its aliases, its type; absent unless given."""
    m, kind = meta(name), base_type(TYPES[name])
    flags = ["--" + name.replace("_", "-"), *m.aliases, *m.only.get(command, ())]
    default = DEFAULTS[name]
    shown = f" (default {' '.join(default) if isinstance(default, tuple) else default})" \
        if default not in (None, False) else ""
    kw = {"dest": name, "default": argparse.SUPPRESS, "help": m.help + shown}
    if kind is bool:
        kw["action"] = "store_true"
    elif m.choices:
        kw["choices"] = m.choices
    elif kind is tuple:
        kw["type"] = _words
    elif kind is str:
        kw["metavar"] = {"scheduler": "ADDRESS", "author": "NAME", "title": "TEXT", "course": "NAME"}.get(name, "PATH")
    else:
        several = command == "sweep" and m.sweep and kind is not str     # a path is one value, spaces and all
        kw["type"] = _several(kind) if several else _number(kind)
        if several:
            kw["help"] = f"{m.help}, one or more values{shown}"
    if command == "train" and name == "resume":        # `--resume DIR`, as before: the run in DIR
        kw.update(action="store", nargs="?", const=True, metavar="DIR")
    parser.add_argument(*flags, **kw)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labrnn", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"labrnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    for command, (help_, description) in COMMANDS.items():
        p = sub.add_parser(command, help=help_, description=description or help_)
        p.print_usage = lambda file=None: None       # bad input: one line, no usage block
        for name in NAMES:
            if command in meta(name).commands:
                _add_setting(p, command, name)
        if command == "compare":
            p.add_argument("dirs", nargs="*", metavar="DIR", help="a report directory (its run.json and key.json)")
            p.add_argument("--dirs", dest="more_dirs", type=_paths, default=[], metavar="'DIR DIR ...'",
                           help="more directories in one argument, as a shell splits words: quote a path with "
                                "spaces inside it (make compare DIRS=\"a 'my runs/b'\")")
    sub.choices["new-model"].add_argument("file", metavar="FILE", help="the file to write, such as my_rnn.py")
    return parser


def _paths(text: str) -> list[str]:
    """Words as a shell splits them (quotes group, nothing is expanded or run): DIRS="a 'my runs/b'"."""
    try:
        return shlex.split(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{err}: {text!r}")


def _given(args) -> dict:
    return {k: v for k, v in vars(args).items() if k in NAMES}


def _load(path, keep_cr):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        corpus = load_corpus(path, keep_cr=keep_cr)
    for w in caught:
        print(f"labrnn: warning: {w.message}", file=sys.stderr)
    return corpus


def _resumed(given: dict, fail) -> tuple[Settings, Corpus]:
    """The settings and corpus of the checkpoint in the run directory, to resume; flags may repeat its settings
    but not contradict them."""
    where = given.pop("resume") if isinstance(given.get("resume"), str) else given.get("run_dir") or \
        fail("--resume needs the run's directory: --resume DIR")
    meta_ = RunDir(where).checkpoint_meta()
    saved = meta_["settings"]
    for key, value in given.items():
        if key in saved and saved[key] != value:
            fail(f"--{key.replace('_', '-')} {value} contradicts the checkpoint in {where}, "
                 f"which has {saved[key]}; drop the flag to resume")
    corpus = _load(given.get("data") or meta_["corpus"].get("path"), Settings(**saved).keep_cr)
    path = given.get("model") or (meta_.get("model") or {}).get("path")
    return replace(Settings(**saved), model=path, run_dir=str(where), resume=True,
                   **{k: given[k] for k in ("sandbox", "limits") if k in given}), corpus


def _fresh(given: dict) -> tuple[Settings, Corpus]:
    """The settings given and their corpus, checked against each other before the run's directory is made."""
    settings = Settings(**given)
    corpus = _load(settings.data, settings.keep_cr)
    settings.check_corpus(corpus)
    return settings, corpus


def cmd_train(given: dict, fail) -> int:
    """The run's life without its gradient check and key (`labrnn.report.run`): the same resume policy as a report."""
    with ExitStack() as stack:          # the model's child process lives as long as the training
        try:
            settings, corpus = _resumed(given, fail) if given.get("resume") else _fresh(given)
            model_file = read_model(settings.model)
            rd = RunDir(settings.run_dir or Path("runs") / settings.name(corpus.info(),
                                                                          model_file and model_file.info()))
            sandbox = stack.enter_context(opened(model_file, settings, corpus))
            trainer = start_or_resume(settings, rd.make(), corpus, sandbox)
        except (ConfigError, CorpusError, CheckpointError, ModelError, RunDirError, ReportError) as err:
            fail(str(err))
        if settings.resume and trainer.finished:
            print(f"the run in {rd} is complete ({trainer.step:,} steps); nothing to resume", file=sys.stderr)
            return 0
        print(f"corpus: {corpus.name}, {corpus.size:,} characters, K = {corpus.K}", file=sys.stderr)
        every = given.get("checkpoint_every", DEFAULTS["checkpoint_every"])
        run = rd.train(trainer, not given.get("quiet", DEFAULTS["quiet"]), checkpoint_every=every)
    _say_how_training_went(run, rd)
    print(rd)
    return 130 if run.interrupted else 1 if run.broken else 0


def _say_how_training_went(run: Run, rd: RunDir) -> None:
    if run.diverged:
        print(f"labrnn: training diverged at step {run.diverged['step']:,}: {run.diverged['reason']}; "
              f"stopped there (--keep-going trains on)", file=sys.stderr)
    if run.broken:
        print(f"labrnn train: error: the model failed at step {run.broken.step:,}, where training stopped:\n"
              f"{run.broken.message}", file=sys.stderr)
    state = "interrupted at" if run.interrupted else "done:"
    print(f"{state} {run.steps_done:,} steps ({run.epochs_done:g} epochs), "
          f"{run.steps_per_second:,.0f} steps/s; best smooth loss {run.best.smooth_loss:.2f} "
          f"at step {run.best.step:,}", file=sys.stderr)
    if run.interrupted:
        print(f"resume with: {shlex.quote(str(this_labrnn()))} train --resume {shlex.quote(str(rd))}", file=sys.stderr)


def cmd_gradcheck(given: dict, fail) -> int:
    try:
        s = Settings(**given)
        corpus = _load(s.data, s.keep_cr)
        with ExitStack() as stack:
            model_file = read_model(s.model)
            sandbox = stack.enter_context(sandboxed(model_file, s)) if model_file else None
            check, diagnosis = check_model(s, corpus, sandbox)
    except (CorpusError, ValueError, ModelError) as err:
        fail(str(err))
    print(check.table())
    print()
    print(diagnosis.table())
    return 0 if check.passed and diagnosis.ok else 1


def cmd_report(given: dict, fail) -> int:
    from labrnn.report.pipeline import make_report
    try:
        result = make_report(Settings(**given))
    except (ConfigError, CorpusError, CheckpointError, RunDirError, ModelError) as err:
        fail(str(err))
    except ReportError as err:
        print(f"labrnn report: error: {err}", file=sys.stderr)
        return 1
    print(result.report)
    rd = RunDir(result.run_dir)         # exit 1: the report is written, but the model failed a check or broke
    return 1 if problems(result.run, rd.load_gradcheck(), rd.load_diagnosis()) else 0


def cmd_sweep(given: dict, fail) -> int:
    from labrnn.sweeps.cluster import ClusterError
    from labrnn.sweeps.grid import grid, submissions
    from labrnn.sweeps.sweep import make_sweep
    try:
        swept = {n: given.pop(n, [DEFAULTS[n]]) for n in SWEPT if n != "model"}
        swept["model"] = submissions(given.pop("model", None))
        Settings(**given)                       # what is wrong outside the grid is no combination's fault
        result = make_sweep(grid(swept, **given))
    except (ConfigError, CorpusError, RunDirError, ClusterError, ModelError) as err:
        fail(str(err))
    if result.comparison:
        print(result.comparison)
    return 1 if result.problems else 0     # a combination failed, or a model fails its check or broke


def cmd_compare(given: dict, fail) -> int:
    from labrnn.sweeps.comparison import compare
    dirs = given.pop("dirs")
    try:
        print(compare(dirs, Settings(**given).reports))
    except (ConfigError, RunDirError) as err:
        fail(str(err))
    compared = (open_run(RunDir(d)) for d in dirs)      # exit 1: the page is written, but a run compared failed
    return 1 if any(problems(c.run, c.check, c.diagnosis) for c in compared) else 0


def this_labrnn() -> Path:
    """The labrnn being run, as a path that works from any directory: the script beside this interpreter (a venv's
    or pipx's bin/), not resolved, since a venv's python is a link to the base one."""
    return Path(sys.executable).absolute().parent / "labrnn"


def _home_as_tilde(path: Path) -> str:
    """`path` for a shell, the home directory as `~`; outside the home, `path/to/` and its last three parts: the
    starter's docstring is listed in a hand-in, which names nothing of the machine (issue 21 point 4)."""
    try:
        return "~/" + shlex.quote(str(path.relative_to(Path.home())))
    except ValueError:
        return "path/to/" + shlex.quote(str(Path(*path.parts[-3:])))


def cmd_new_model(path: str, fail) -> int:
    """The starting file, its commands naming it and this labrnn by a path that works wherever the student is;
    an existing file is refused, never overwritten."""
    target = Path(path)
    if target.exists() or target.is_symlink():
        fail(f"{path} exists; labrnn never overwrites a file: name a new one")
    text = (STARTER.read_text(encoding="utf-8").replace("THIS_FILE", shlex.quote(target.name))
            .replace("LABRNN", _home_as_tilde(this_labrnn())))
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.link(tmp, target)            # complete or absent, and never over a file made in the meantime
    except FileExistsError:
        fail(f"{path} exists; labrnn never overwrites a file: name a new one")
    finally:
        os.unlink(tmp)
    labrnn, model = shlex.quote(str(this_labrnn())), shlex.quote(path)
    print(f"wrote {path}: fill in loss_and_grads, then, from this directory:\n"
          f"  {labrnn} gradcheck --model {model}\n"
          f"  {labrnn} report --model {model}      # writes reports/<run>/report.html here", file=sys.stderr)
    return 0


SWITCH = {"1": True, "yes": True, "true": True, "on": True, "0": False, "no": False, "false": False, "off": False}


def from_make(command: str, sub: argparse.ArgumentParser, words: list[str]) -> list[str]:
    """make's NAME=VALUE words as the command's flags: ETA=0.1 -> --eta=0.1, FORCE=1 -> --force.

    `--flag=value` binds the value whatever it holds (a leading dash, quotes, spaces); an empty
    value leaves the setting at its default; a name the command has no flag for is refused.
    """
    flags = {opt: action for action in sub._actions for opt in action.option_strings
             if opt.startswith("--") and opt not in ("--help", "--from-make")}
    argv, named = [], {}
    for word in words:
        name, _, value = word.partition("=")
        flag = "--" + name.lower().replace("_", "-")
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name) or flag not in flags:
            known = " ".join(sorted(f[2:].upper().replace("-", "_") for f in flags))
            sub.error(f"make {command} has no variable {name!r}; it knows {known}")
        other = named.setdefault(flags[flag].dest, name)
        if other != name:
            sub.error(f"{other} and {name} name the same setting; give one of them")
        if value == "":
            continue
        if flags[flag].nargs == 0:                    # a switch: FORCE=1 turns it on, FORCE=0 leaves it off
            if value.lower() not in SWITCH:
                sub.error(f"{name} takes 1/yes/true/on or 0/no/false/off, got {value!r}")
            argv += [flag] if SWITCH[value.lower()] else []
        else:
            argv.append(f"{flag}={value}")
    return argv


def _terminated(signum, frame):
    """SIGTERM unwinds like Ctrl-C: staging directories, kernels and their sockets are cleaned up on the way."""
    raise KeyboardInterrupt


def main(argv=None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    subparsers = parser._subparsers._group_actions[0].choices
    if argv[1:2] == ["--from-make"] and argv[0] in subparsers:
        argv = [argv[0], *from_make(argv[0], subparsers[argv[0]], argv[2:])]
    parser.print_usage = lambda file=None: None
    args, unknown = parser.parse_known_args(argv)
    sub = subparsers[args.command]
    if unknown:
        sub.error(f"unrecognized arguments: {' '.join(unknown)}")
    commands = {"train": cmd_train, "gradcheck": cmd_gradcheck, "report": cmd_report, "sweep": cmd_sweep,
                "compare": cmd_compare, "new-model": lambda given, fail: cmd_new_model(args.file, fail)}
    given = _given(args)
    if args.command == "compare":
        given["dirs"] = [*args.dirs, *args.more_dirs]
    previous = signal.signal(signal.SIGTERM, _terminated) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        return commands[args.command](given, sub.error)
    except KeyboardInterrupt:
        print("labrnn: interrupted", file=sys.stderr)
        return 130
    except OSError as err:                  # a full disk, a read-only directory: say which file, not a traceback
        where = f": {err.filename}" if err.filename else ""
        print(f"labrnn {args.command}: error: {err.strerror or err}{where}; that file was left as it was",
              file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
