"""A sweep's grid: the combinations of the swept settings, checked before anything runs, and their names.

The seed reports compared learning rates and sequence lengths by hand; a grid is every combination of the
values given (a class's submissions are the values of MODEL), each one ordinary report.  Here are the names
the log, the legends, the pages and the sweep's directory give them.
"""
from __future__ import annotations

import hashlib
import itertools
import os
from dataclasses import replace
from pathlib import Path

from labrnn.report.checks import load_checked
from labrnn.rnn.corpus import Corpus, shown
from labrnn.settings import DEFAULTS, SWEPT, ConfigError, Settings, meta
from labrnn.student.sandbox import ModelError, ModelFile, read_model

MAX_NAME = 150


def label(settings: Settings, names=SWEPT) -> str:
    """η=0.1 seq=25: a run as the log, the legend and the passages name it (by the settings that vary)."""
    return " ".join(f"{meta(n).symbol}={fmt(getattr(settings, n), n)}" for n in names)


def fmt(value, name: str | None = None) -> str:
    """A setting's value as tables and names show it; a model file by its name, one printable line (labrnn: the
    built-in model): a student names the file, and the log, legends and pages show it."""
    if name == "model":
        return "labrnn" if value is None else shown(Path(value).name)
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def slug(text: str) -> str:
    """A model file's stem as a name part: letters and digits, the rest one dash."""
    return "-".join("".join(ch if ch.isalnum() else " " for ch in text).split())


def model_part(path: str | None) -> str:
    """A model file in a sweep's name: its stem and sha256 prefix, as run names show it (two files called
    my_rnn.py make two sweeps)."""
    if path is None:
        return "labrnn"
    try:
        return f"{slug(Path(path).stem)}-{read_model(path).sha256[:8]}"
    except ModelError:          # a run compared elsewhere: its model file stayed where it was trained
        return slug(Path(path).stem)


def submissions(path: str | None) -> list[str | None]:
    """MODEL for a sweep: a file is one model, a directory every .py file in it (a class's submissions), sorted;
    no MODEL, labrnn's own.  ConfigError for a directory without any, or a path that is not there (a mistyped
    folder is no submission to grade)."""
    if path is not None and not os.path.lexists(path):
        raise ConfigError(f"MODEL {shown(path)}: no such file or directory")
    if path is None or not Path(path).is_dir():
        return [path]
    found = sorted(str(p) for p in Path(path).iterdir() if p.suffix == ".py" and p.is_file())
    if not found:
        raise ConfigError(f"MODEL {shown(path)} is a directory without .py files; give a model file or a "
                          "directory of them")
    return found


def grid(values: dict[str, list], **fixed) -> list[Settings]:
    """One Settings per combination of the swept values (each list sorted, duplicates dropped).

    Raises ConfigError naming the first combination whose settings cannot describe a run.
    """
    names = [n for n in SWEPT if n in values]
    varying = [n for n in names if len(set(values[n])) > 1] or names
    combos = []
    for combo in itertools.product(*(sorted(set(values[n])) for n in names)):
        kw = {**fixed, **dict(zip(names, combo))}
        try:
            combos.append(Settings(**kw))
        except ConfigError as err:
            where = " ".join(f"{meta(n).symbol}={fmt(kw[n], n)}" for n in varying)
            raise ConfigError(f"combination {where}: {err}") from None
    return combos


def varied(combos: list[Settings]) -> list[str]:
    """The swept settings that take more than one value (all of them if none does)."""
    names = [n for n in SWEPT if len({getattr(p, n) for p in combos}) > 1]
    return names or list(SWEPT)


def check(combos: list[Settings]) -> tuple[Corpus, dict[str, ModelFile]]:
    """Every combination checked against the corpus before anything runs; the corpus, and each model file read
    once, by its path as the settings name it.

    Raises CorpusError, or ConfigError naming the combination.
    """
    names, seen = varied(combos), {}
    files = {c.model: read_model(c.model) for c in combos if c.model is not None}
    corpus = None
    for settings in combos:
        try:
            corpus = load_checked(settings, corpus)
        except ConfigError as err:
            raise ConfigError(f"combination {label(settings, names)}: {err}") from None
        name = settings.name(corpus.info(), settings.model and files[settings.model].info())
        if name in seen:
            raise ConfigError(f"combinations {label(seen[name], names)} and {label(settings, names)} "
                              f"share the report directory {name}; give values that differ in 6 digits")
        seen[name] = settings
    return corpus, files


def sweep_name(combos: list[Settings], corpus: dict) -> str:
    """eta0.05-0.1_seq20-25_st20000_<corpus>-<sha8>: each swept setting with its values, the other settings
    that change the numbers and differ from their defaults, and the corpus."""
    parts = []
    for n in [*SWEPT, *(n for n in combos[0].numbers() if n not in SWEPT)]:     # runs compared may differ in any
        values = sorted({getattr(p, n) for p in combos}, key=lambda v: (v is None, str(v) if n == "model" else v))
        if values != [DEFAULTS[n]]:
            parts.append((meta(n).short or n) + "-".join(model_part(v) if n == "model" else fmt(v).lower()
                                                         for v in values))
    parts.append(replace(combos[0], model=None).name(corpus).split("_", 1)[0])     # the corpus and its sha256
    name = "_".join(parts)
    if len(name) > MAX_NAME:        # a long grid: stay within file-name limits, still one name per grid
        name = f"{name[:MAX_NAME - 9]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return name
