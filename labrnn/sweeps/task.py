"""One report as a Dask task: what travels to a worker, what it does there, and what comes back.

No filesystem is shared.  Every setting that names a file whose content counts (`Meta.file`: the corpus) goes
by content, with the file's own name (run names and reports show it); with RESUME=1 the checkpoint goes too.
On the worker the report is made in a scratch directory under its own temporary directory (`labrnn.scratch`: a
worker killed in a task leaves one, which the next task there removes), and every file of the run directory comes
back by its relative name.  The client checks those names and the run's cache key
before `publish` writes them into REPORTS/<name>, staged and renamed as a local report's are.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from labrnn import scratch
from labrnn.report.run import ReportError
from labrnn.report.rundir import RunDir, RunDirError
from labrnn.rnn.corpus import CorpusError, shown
from labrnn.rnn.train import CheckpointError
from labrnn.settings import NAMES, ConfigError, Settings, meta
from labrnn.student.sandbox import ModelError

FILES = tuple(n for n in NAMES if meta(n).file)         # the settings whose file travels by content
OURS = (ReportError, ConfigError, CorpusError, CheckpointError, RunDirError, ModelError)   # a report's own failures


@dataclass(frozen=True)
class Task:
    """A report for a worker: its settings (the worker replaces each file setting by its copy of the file),
    the run directory's name, the checkpoint to resume from, and the labrnn (version, numerics) the client
    expects."""
    settings: Settings
    name: str
    checkpoint: bytes | None
    identity: tuple[str, str]
    notebooks: dict[str, bytes] | None = None       # the client's own notebooks, when it was given some


@dataclass(frozen=True)
class Outcome:
    """What a worker made: the run directory's files by relative name, and what the client logs."""
    files: dict[str, bytes]
    seconds: float
    trained: bool
    worker: str
    error: str | None = None        # the report's own one-line failure; the files it left still come back


class WorkerMismatch(Exception):
    """A worker whose labrnn makes other numbers than the client's."""


def one_line(err: BaseException) -> str:
    """The user-facing message of a report's own errors; anything else with its type, so it can be looked up."""
    lines = str(err).strip().splitlines()
    text = lines[0] if lines else ""
    if isinstance(err, ModelError) and len(lines) > 1:        # their traceback: its last line says what it was
        text = f"{text} ({lines[-1].strip()})"
    return text if isinstance(err, (*OURS, WorkerMismatch)) else f"{type(err).__name__}: {text}"


# -- on the client ----------------------------------------------------------------------------------------
def files(settings: Settings) -> dict[str, Path]:
    """Each file setting that is set, and its file."""
    return {n: Path(getattr(settings, n)) for n in FILES if getattr(settings, n) is not None}


def task(settings: Settings, name: str, checkpoint: Path | None, identity: tuple[str, str],
         notebooks: Path | None = None) -> Task:
    """The task for one combination (its files' contents travel beside it, see `files`)."""
    return Task(settings, name, checkpoint.read_bytes() if checkpoint else None, identity,
                {n: (notebooks / n).read_bytes() for n in RunDir.NOTEBOOKS} if notebooks else None)


TOP = frozenset({RunDir.RUN, RunDir.ARRAYS, RunDir.CHECKPOINT, RunDir.GRADCHECK, RunDir.KEY, RunDir.REPORT,
                 RunDir.PDF, *RunDir.NOTEBOOKS})
KNOWN = TOP | {f"{RunDir.FAILED}/{n}" for n in RunDir.NOTEBOOKS}     # every file a run directory may hold
PAGES = 16 * 2**20      # bytes: the figures, pages and PDF of any report, whatever its settings
PER_CHAR = 512          # bytes per generated character: escaped in run.json, the checkpoint, notebooks, pages
MARGIN = 2


def checked(name: str) -> str:
    """A returned file's name, if it is one of a run directory's files (KNOWN: the run, the report, and the
    notebooks of a failed render in failed/); RunDirError otherwise, so a worker cannot write outside
    REPORTS/<name>, over its lock and marks, or any file labrnn would not make."""
    if not (isinstance(name, str) and name in KNOWN):
        raise RunDirError(f"a worker returned the file name {shown(str(name))!r}, which is no file of a run "
                          "directory; nothing it returned was written")
    return name


def most_bytes(settings: Settings, size: int, K: int) -> int:
    """The most a run directory of these settings on a corpus of `size` characters and K symbols can hold, times
    MARGIN: the loss of every step (run.npz, the checkpoint twice), the parameters (best, current, AdaGrad's),
    every generated character, and PAGES for the rest."""
    steps = settings.total_steps(settings.split(size))
    characters = len(settings.sample_steps(steps)) * settings.sample_len + settings.best_len
    m = settings.m
    parameters = m * m + 2 * m * K + m + K
    return MARGIN * (4 * 8 * (steps + 1) + 8 * 8 * parameters + PER_CHAR * characters + PAGES)


def within(files: dict[str, bytes], settings: Settings, size: int, K: int, worker: str) -> None:
    """RunDirError, in one line, when an answer holds more than a run of these settings can make."""
    total, most = sum(len(data) for data in files.values()), most_bytes(settings, size, K)
    if total > most:
        raise RunDirError(f"worker {worker} returned {total / 2**20:,.1f} MiB, more than a run of these settings "
                          f"makes (at most {most / 2**20:,.0f} MiB); nothing it returned was written")


def publish(rd: RunDir, files: dict[str, bytes]) -> None:
    """The returned files into rd, as a local report writes them: staged beside, the key removed first and
    renamed into place last, the run directory's lock held throughout."""
    names = [checked(n) for n in files]
    top = sorted((n for n in names if "/" not in n), key=lambda n: n == RunDir.KEY)    # the key last
    with rd.lock():
        build = rd.staging()
        try:
            for n in names:
                (build / n).parent.mkdir(exist_ok=True)
                (build / n).write_bytes(files[n])
            rd.remove(RunDir.KEY)                   # no key, no trusted run, until the new one is complete
            if RunDir.PDF not in files:
                rd.remove(RunDir.PDF)               # as make_report does: an older PDF would not match
            rd.publish(build, top)
            if (build / RunDir.FAILED).is_dir():
                rd.keep_failed(build / RunDir.FAILED)
        finally:
            shutil.rmtree(build, ignore_errors=True)


# -- on the worker ----------------------------------------------------------------------------------------
def run(t: Task, files: dict[str, tuple[str, bytes]]) -> Outcome:
    """Make the report in a scratch directory of this worker's and return its files.

    The report's own failures (a notebook error, an interrupted run) come back as the outcome's error with
    whatever the run directory holds; anything else raises, so Dask retries it.
    """
    from distributed import get_worker

    from labrnn.report.pipeline import make_report
    from labrnn.sweeps.cluster import identity
    worker = get_worker().address
    if identity() != tuple(t.identity):
        mine = identity()
        raise WorkerMismatch(f"worker {worker} refused: it runs labrnn {mine[0]} with numerics {mine[1]}, "
                             f"the client {t.identity[0]} with numerics {t.identity[1]}")
    with scratch.directory("labrnn-task-") as where:
        given = {}
        for n, (filename, data) in files.items():
            (where / n).mkdir()
            (where / n / filename).write_bytes(data)
            given[n] = str(where / n / filename)
        notebooks = None
        if t.notebooks:
            notebooks = where / "notebooks"
            notebooks.mkdir()
            for n, data in t.notebooks.items():
                (notebooks / n).write_bytes(data)
        rd = RunDir(where / "reports" / t.name).make()
        if t.checkpoint is not None:
            (rd / RunDir.CHECKPOINT).write_bytes(t.checkpoint)
        settings = replace(t.settings, reports=str(where / "reports"), run_dir=str(rd), **given)
        t0, error, trained = time.perf_counter(), None, False
        try:
            trained = make_report(settings, notebooks=notebooks, log=lambda msg: None, progress=False).trained
        except OURS as err:             # named with the client's paths, not this worker's copies
            error = one_line(err)
            for n, copy in given.items():
                error = error.replace(shown(copy), shown(getattr(t.settings, n)))
        return Outcome(_files(rd), time.perf_counter() - t0, trained, worker, error)


def _files(rd: RunDir) -> dict[str, bytes]:
    """Every file of the run directory but its lock, marks and staging, by relative name."""
    found = {}
    for path in sorted(rd.path.rglob("*")):
        name = path.relative_to(rd.path).as_posix()
        if path.is_file() and not any(p.startswith(".") for p in PurePosixPath(name).parts):
            found[name] = path.read_bytes()
    return found
