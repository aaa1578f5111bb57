"""Every setting of labrnn, declared once: the one list the rest is made from.

Each line of `Settings` gives a setting's name (the lab's notation), type,
default and help, and says where it shows: the CLI flag and Make variable it
answers to (``--seq-length``, ``SEQ_LENGTH``, plus older aliases), its short
form in run names, its label in the report's settings table, whether a sweep
may vary it, and whether it changes the numbers (then it is part of the cache
key and of run.json's ``params``) or only how labrnn runs.  argparse for every
subcommand, the Make variables labrnn accepts, run names, the cache key and
the notebooks' parameters are all made from this list.
"""
from __future__ import annotations

import math
import os
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, get_type_hints

RUN = frozenset({"train", "report", "sweep"})            # the commands that make a run
REPORT = frozenset({"report", "sweep"})
MAX_BYTES = 4 * 2**30              # settings that would need more memory are refused up front
MAX_WORK = 6e10                    # multiply-adds of the gradient check's numerical gradients: about a minute
FORMATS = ("html", "pdf")          # report.html is always written (the index links it); pdf adds report.pdf
INTEGER = re.compile(r"[+-]?[0-9]+")
DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf|infinity|nan)",
                     re.ASCII | re.IGNORECASE)
BLANKS = " \t\n\r\f\v"                 # ASCII white space: what separates a sweep's values


class ConfigError(ValueError):
    """Settings that cannot describe a run; the message names the bad one."""


@dataclass(frozen=True)
class Meta:
    """Where a setting shows, beyond its name, type and default."""
    help: str
    commands: frozenset[str] = RUN
    numbers: bool = True            # changes the numbers: part of the cache key and of run.json's params
    file: bool = False              # names a file whose content, not its path, counts
    in_name: bool = False           # always part of run names (the others only when they differ from the default)
    short: str | None = None        # its form in run names: eta0.1, se5000 (default: the name)
    sweep: bool = False             # a sweep may give it several values
    symbol: str | None = None       # how a sweep's table and legend name it
    label: str | None = None        # its row in the report's settings table
    show: Callable[[Any], str] | None = None       # the row's value, from the whole Settings
    low: float | None = None        # the smallest value allowed (ints and floats); floats default to > 0
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()   # older flags that still work (their Make variables too)
    only: Mapping[str, tuple[str, ...]] = field(default_factory=dict)   # aliases in one command only


def setting(default, help: str, **meta):
    return field(default=default, metadata={"labrnn": Meta(help, **meta)})


def _length(s) -> str:
    return f"{s.epochs} epochs" if s.epochs is not None else f"{s.steps:,} steps"


def _samples(s) -> str:
    """The sample range; `table_rows` has set sample_until to the run's last sample step."""
    return f"{s.sample_len} characters every {s.sample_every:,} steps until step {s.sample_until:,}"


@dataclass(frozen=True)
class Settings:
    # -- the run: every one of these changes the numbers ---------------------------------------------------
    eta: float = setting(0.1, "AdaGrad learning rate η", in_name=True, sweep=True, symbol="η",
                         label="Learning rate η", show=lambda s: f"{s.eta:g}")
    seq_length: int = setting(25, "characters per update, seq_length", in_name=True, short="seq", sweep=True,
                              symbol="seq", label="Sequence length", low=1, aliases=("--seq",),
                              commands=RUN | {"gradcheck"})
    m: int = setting(100, "hidden units m", in_name=True, sweep=True, symbol="m", label="Hidden units m", low=1)
    sigma: float = setting(0.01, "standard deviation of the initial U, W, V", in_name=True, sweep=True,
                           symbol="σ", label="Initial weights σ", show=lambda s: f"{s.sigma:g}")
    steps: int | None = setting(100_000, "update steps", in_name=True, short="st", low=1, label="Length", show=_length)
    epochs: int | None = setting(None, "passes over the corpus; overrides steps", in_name=True, short="ep", low=1)
    seed: int = setting(1, "drives every random draw: same seed and inputs, same numbers", in_name=True,
                        sweep=True, symbol="seed", label="Seed", low=0, commands=RUN | {"gradcheck"})
    clip: float = setting(5.0, "gradients are clipped to [-clip, clip] before each update", sweep=True,
                          symbol="clip", label="Gradient clipping", show=lambda s: f"to ±{s.clip:g}",
                          commands=RUN | {"gradcheck"})
    sample_every: int = setting(10_000, "synthesize text every N steps", short="se", low=1,
                                label="Samples", show=_samples)
    sample_until: int | None = setting(100_000, "stop the periodic samples at step N (training goes on)",
                                       short="su", low=0)
    sample_len: int = setting(200, "characters per sample", short="sl", low=1)
    best_len: int = setting(1_000, "characters from the best model", short="bl", low=1,
                            label="Best passage", show=lambda s: f"{s.best_len:,} characters")
    temperature: float = setting(1.0, "divides the scores, less the largest, before the softmax; 1 samples p itself")
    holdout: float = setting(0.05, "share of the corpus's end kept out of training for the held-out loss",
                             low=0.0)
    keep_cr: bool = setting(False, "keep carriage returns instead of normalizing to \\n",
                            commands=RUN | {"gradcheck"})
    keep_going: bool = setting(False, "train on when the loss diverges (a NaN still stops the run)")
    engine: str = setting("numba", "numba (compiled, the default) or numpy (the readable reference)",
                          choices=("numba", "numpy"))
    grad_m: int = setting(5, "hidden units of the gradient check's small network", short="gm", low=1,
                          label="Gradient check", show=lambda s: f"m = {s.grad_m}",
                          commands=REPORT | {"gradcheck"}, only={"gradcheck": ("--m",)})
    grad_h: float = setting(1e-4, "finite-difference step of the gradient check", short="gh",
                            commands=REPORT | {"gradcheck"}, only={"gradcheck": ("--h",)})
    data: str | None = setting(None, "a UTF-8 text file (default: the built-in King James Bible)", file=True,
                               numbers=False, commands=RUN | {"gradcheck"})
    model: str | None = setting(None, "a Python file with your own loss_and_grads(params, x, y, h0), run in a child "
                                "process and trained through the numpy engine (labrnn new-model FILE starts one); "
                                "for a sweep, also a directory: one report per .py file in it",
                                file=True, numbers=False, sweep=True, symbol="model", commands=RUN | {"gradcheck"})
    # -- whose report: shown in it, never in the run (labrnn.report.handin) -----------------------------------
    author: str | None = setting(None, "your name, in the report's title block, the PDF's title and the index",
                                 numbers=False, commands=frozenset({"report"}))
    title: str | None = setting(None, "the report's title (default: labrnn's)", numbers=False,
                                commands=frozenset({"report"}))
    course: str | None = setting(None, "the course, beside your name", numbers=False, commands=frozenset({"report"}))
    text: str | None = setting(None, "a Markdown file of your sections (# Introduction, # Discussion, ...), with "
                               "$math$ and {{ best.smooth_loss }}-style citations of this run's numbers",
                               numbers=False, commands=frozenset({"report"}))
    # -- how labrnn runs: none of these changes the numbers -----------------------------------------------
    run_dir: str | None = setting(None, "the run's directory (default: <name from the settings> in REPORTS for a "
                                  "report, in runs/ for labrnn train)",
                                  numbers=False, commands=frozenset({"train", "report"}),
                                  only={"train": ("--out",)})
    reports: str = setting("reports", "the directory of reports, the index and sweeps", numbers=False,
                           commands=REPORT | {"compare"}, only={"sweep": ("--run-dir",)})
    force: bool = setting(False, "train again even over a cached or an interrupted run", numbers=False,
                          commands=REPORT | {"train"})
    resume: bool = setting(False, "continue the interrupted run in the run directory from its checkpoint",
                           numbers=False)
    format: tuple[str, ...] = setting(("html",), "output formats, space-separated: html, pdf "
                                      "(report.html is always written)", numbers=False, commands=REPORT)
    start_timeout: int = setting(120, "seconds a notebook's kernel may take to start", numbers=False, low=1,
                                 commands=REPORT)
    cell_timeout: int = setting(600, "seconds one notebook cell may run", numbers=False, low=1, commands=REPORT)
    jobs: int | None = setting(None, "reports made at once (default: the cores this process may use; on a "
                               "named cluster, as many as its workers take)", numbers=False,
                               low=1, commands=frozenset({"sweep"}))
    scheduler: str | None = setting(None, "the Dask scheduler to run on, tcp://host:8786 (default: "
                                    "DASK_SCHEDULER_ADDRESS, else a cluster on this machine)", numbers=False,
                                    commands=frozenset({"sweep"}))
    scheduler_file: str | None = setting(None, "the scheduler to run on, from the file `dask scheduler "
                                         "--scheduler-file` wrote", numbers=False, commands=frozenset({"sweep"}))
    worker_timeout: int = setting(600, "seconds a sweep on a named scheduler waits for its first worker (workers "
                                  "queued on SLURM may take a while)", numbers=False, low=1,
                                  commands=frozenset({"sweep"}))
    checkpoint_every: int = setting(5_000, "save a checkpoint every N steps and at every sample (0: never)",
                                    numbers=False, low=0, commands=frozenset({"train"}))
    quiet: bool = setting(False, "no progress bar", numbers=False, commands=frozenset({"train"}))
    sandbox: str = setting("on", "a student's file runs confined: on (every layer this system has, a missing one "
                           "named in a warning) or strict (refuse to run without all of them)", numbers=False,
                           choices=("on", "strict"), commands=RUN | {"gradcheck"})
    limits: float = setting(1.0, "multiplies the memory (2 GiB), CPU time and wall-clock time a student's file "
                            "may use", numbers=False, commands=RUN | {"gradcheck"})

    def __post_init__(self):
        for k in ("data", "model", "text", "run_dir", "reports"):     # paths as strings: run.json and the key hold them
            if isinstance(getattr(self, k), os.PathLike):
                object.__setattr__(self, k, os.fspath(getattr(self, k)))
        if isinstance(self.format, (list, str)):
            object.__setattr__(self, "format", tuple(self.format.split() if isinstance(self.format, str)
                                                     else self.format))
        for f in fields(self):
            _check(f.name, getattr(self, f.name), TYPES[f.name], meta(f.name))
        for k in ("data", "model", "text", "run_dir", "reports"):
            if getattr(self, k) is not None and "\x00" in getattr(self, k):
                raise ConfigError(f"{k} must be a path without NUL bytes, got {getattr(self, k)!r}")
        for k in ("scheduler", "scheduler_file"):    # given but blank: the default would be a silent guess
            if getattr(self, k) is not None and not getattr(self, k).strip():
                raise ConfigError(f"{k} is blank ({getattr(self, k)!r}); name one, or leave it out for the default")
        for k in ("author", "title", "course"):    # one printable line of the title block
            value = getattr(self, k)
            if value is not None and (not value.strip() or not value.isprintable()):
                raise ConfigError(f"{k} must be one line of printable text, got {value!r}")
        for k in ("run_dir", "reports"):            # the notebooks record where they ran, in UTF-8 JSON
            if getattr(self, k) is not None and not _utf8(getattr(self, k)):
                raise ConfigError(f"{k} must be a path in UTF-8, got {getattr(self, k)!r}")
        if self.epochs is not None:                  # epochs override steps
            object.__setattr__(self, "steps", None)
        elif self.steps is None:
            raise ConfigError("give a number of steps or of epochs")
        if self.holdout == 0:                        # -0 and 0.0 are HOLDOUT=0: one run name, one key
            object.__setattr__(self, "holdout", 0.0)
        if not self.holdout < 0.5:
            raise ConfigError(f"holdout must be a share from 0 up to 0.5, got {self.holdout!r}")
        unknown = [f for f in self.format if f not in FORMATS]
        if unknown or not self.format:
            raise ConfigError(f"unknown format {' '.join(unknown) or '(none given)'}; "
                              f"available: {', '.join(FORMATS)}")
        for k in ("data", "model"):                  # notebooks run in another directory
            if getattr(self, k) is not None:
                object.__setattr__(self, k, str(Path(getattr(self, k)).expanduser().absolute()))
        if self.model is not None:                   # their function is called from Python, step by step
            object.__setattr__(self, "engine", "numpy")

    @classmethod
    def of(cls, names: Mapping[str, Any]) -> "Settings":
        """The run a notebook's parameters describe (`Settings.of(globals())`); other names are ignored."""
        return cls(**{k: names[k] for k in NAMES if (meta(k).numbers or meta(k).file) and k in names})

    def numbers(self) -> dict:
        """The settings that change a run's numbers: run.json's params and, with the corpus, the cache key."""
        return {k: getattr(self, k) for k in NAMES if meta(k).numbers}

    def name(self, corpus: dict, model_info: dict | None = None) -> str:
        """A readable directory name: corpus and its sha256 prefix, the model file's stem and sha256 prefix
        (`model_info`, given with a model: the file as the run read it, `ModelFile.info()`), then eta, seq, m,
        sigma, length, seed, then every other setting that changes the numbers and differs from its default."""
        parts = [_slug(corpus["name"], corpus["sha256"])]
        if self.model is not None:
            parts.append(_slug(Path(model_info["name"]).stem, model_info["sha256"]))
        for k, value in self.numbers().items():
            m = meta(k)
            if (m.in_name and value is not None) or (not m.in_name and value != DEFAULTS[k]):
                parts.append(f"{m.short or k}{_fmt(value)}")
        return "_".join(parts)

    # -- what the settings mean for a corpus ------------------------------------------------------------------
    def split(self, size: int) -> int:
        """Characters used for training; the rest (at least two, if any) is held out."""
        return size - (max(2, int(size * self.holdout)) if self.holdout > 0 else 0)

    def steps_per_epoch(self, train_size: int) -> int:
        """Updates in one pass: the pointer e takes 0, L, 2L, ... while e <= N - L - 1."""
        return (train_size - self.seq_length - 1) // self.seq_length + 1

    def total_steps(self, train_size: int) -> int:
        if self.epochs is not None:
            return self.epochs * self.steps_per_epoch(train_size)
        return self.steps

    def sample_steps(self, total: int) -> list[int]:
        """Step 0, every sample_every steps, and the last step, all up to sample_until."""
        until = total if self.sample_until is None else min(self.sample_until, total)
        steps = list(range(0, until + 1, self.sample_every))
        if until == total and steps[-1] != total:
            steps.append(total)
        return steps

    def check_corpus(self, corpus) -> None:
        """Refuse a corpus too short for seq_length, or settings that cannot fit in memory."""
        need = self.seq_length + 1
        train_size = self.split(corpus.size)
        if train_size < need:
            held = (f" plus {corpus.size - train_size if train_size > 0 else 2} held out "
                    f"(--holdout 0 trains on all of it)" if self.holdout else "")
            raise ConfigError(f"corpus {corpus.name!r} has {corpus.size:,} characters; seq_length "
                              f"{self.seq_length} needs at least {need} for training{held}")
        m, K, total = self.m, corpus.K, self.total_steps(train_size)
        needed = 8 * (4 * (m * m + 2 * m * K + m + K) + 2 * total + self.seq_length * (3 * m + 2 * K)
                      + max(self.sample_len, self.best_len))
        if needed > MAX_BYTES:
            raise ConfigError(f"these settings need about {needed / 2**30:,.0f} GiB of memory "
                              f"(m={m}, K={K}, {total:,} steps, samples of {max(self.sample_len, self.best_len):,}); "
                              f"the limit is {MAX_BYTES / 2**30:.0f} GiB")


def gradcheck_work(K: int, m: int, seq_length: int) -> float:
    """Multiply-adds of the gradient check's numerical gradients: two losses per entry of W, U, V, b, c."""
    entries = m * m + 2 * m * K + m + K
    return 2 * entries * seq_length * (m * m + m * K)


def check_gradcheck(K: int, m: int, seq_length: int) -> None:
    """Refuse a gradient check that would take hours (naming the largest m that does not): like memory, a cost the
    settings have on a corpus, refused before anything runs."""
    if gradcheck_work(K, m, seq_length) > MAX_WORK:
        largest = max((k for k in range(1, m) if gradcheck_work(K, k, seq_length) <= MAX_WORK), default=1)
        raise ConfigError(f"a gradient check with grad_m = {m} (K = {K}, seq_length = {seq_length}) would evaluate "
                          f"the loss {2 * (m * m + 2 * m * K + m + K):,} times, about "
                          f"{gradcheck_work(K, m, seq_length) / MAX_WORK:,.0f} minutes; it checks a small network: "
                          f"give grad_m of at most {largest}")


NAMES = tuple(f.name for f in fields(Settings))
DEFAULTS = {f.name: f.default for f in fields(Settings)}
TYPES = get_type_hints(Settings)
SWEPT = tuple(k for k in NAMES if Settings.__dataclass_fields__[k].metadata["labrnn"].sweep)


def meta(name: str) -> Meta:
    return Settings.__dataclass_fields__[name].metadata["labrnn"]


def table_rows(s: Settings, total: int) -> list[tuple[str, str]]:
    """The report's settings table: each labelled setting, in the schema's order, as a run of `total` steps
    had it (SAMPLE_UNTIL=100000 in a run of 20,000 steps samples until step 20,000)."""
    s = replace(s, sample_until=s.sample_steps(total)[-1])
    rows = []
    for k in NAMES:
        m = meta(k)
        if m.label:
            rows.append((m.label, m.show(s) if m.show else str(getattr(s, k))))
    return rows


def _slug(name: str, sha256: str) -> str:
    """A file's part of a run name: its name in lower-case letters, digits and dashes, and its hash's prefix."""
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")[:24] + f"-{sha256[:8]}"


def _fmt(value) -> str:
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value).lower()


def parse_number(text: str, kind: type):
    """A number from the command line or Make, by the one rule: ASCII digits, a sign, and for a float a point,
    an exponent, or inf / nan (which the setting's own check then refuses by name), with ASCII blanks around.
    Python's int() and float() also take other scripts' digits (١, ２), underscores and Unicode spaces: here
    those are refused, so `STEPS=１２` fails as `FORCE=２` does.  ConfigError names the text."""
    text = text.strip(BLANKS)
    if not (INTEGER if kind is int else DECIMAL).fullmatch(text):
        ascii_only = "" if text.isascii() else " (write numbers in ASCII digits)"
        raise ConfigError(f"not a{'n integer' if kind is int else ' number'}: {text!r}{ascii_only}")
    return kind(text)


def parse_numbers(text: str, kind: type) -> list:
    """A sweep's values of one setting, separated by ASCII blanks: "0.05 0.1 0.2"."""
    values = [parse_number(word, kind) for word in re.split(f"[{BLANKS}]+", text) if word]
    if not values:
        raise ConfigError(f"no value given: {text!r}")
    return values


def base_type(hint) -> type:
    """int for `int | None`, tuple for `tuple[str, ...]`: what a value on the command line is parsed as."""
    args = [a for a in getattr(hint, "__args__", ()) if a is not type(None)]
    if isinstance(hint, types.UnionType):
        return args[0]
    return getattr(hint, "__origin__", hint)


def _check(name: str, value, hint, m: Meta) -> None:
    kind = base_type(hint)
    if value is None and isinstance(hint, types.UnionType):
        return
    if kind is bool:
        ok = isinstance(value, bool)
        want = "true or false"
    elif kind is int:
        ok = (not isinstance(value, bool) and isinstance(value, int) or _is_np_int(value)) and value >= (m.low or 0)
        want = f"an integer >= {m.low or 0:g}"
    elif kind is float:
        try:
            ok = math.isfinite(value) and (value >= m.low if m.low is not None else value > 0)
        except TypeError:
            ok = False
        ok = ok and not isinstance(value, bool)
        want = "a positive finite number" if m.low is None else f"a finite number >= {m.low:g}"
    elif kind is str:
        ok = isinstance(value, str) and (not m.choices or value in m.choices)
        want = " or ".join(m.choices) if m.choices else "a string"
    else:
        ok, want = isinstance(value, tuple), "a tuple"
    if not ok:
        raise ConfigError(f"{name} must be {want}, got {value!r}")


def _utf8(path: str) -> bool:
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_np_int(value) -> bool:
    import numpy as np
    return isinstance(value, np.integer)

