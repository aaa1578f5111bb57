"""A run directory and every file in it, owned by one class.

    run.json        everything a reader or a report needs       RunDir.save_run / load_run
    run.npz         the smooth loss of every step, best W..c    (with run.json)
    checkpoint.npz  the trainer's whole state, to resume        save_checkpoint / resume, unfinished
    gradcheck.json  the gradient check and the diagnosis        save_gradcheck / load_gradcheck, load_diagnosis
    key.json        the cache key the run was made under        save_key / read_key (written last)
    .lock           held while the run is made or reused        lock
    *.ipynb, report.html, report.pdf                            the report (labrnn.report.pipeline)
    failed/         the notebooks of the last failed render     keep_failed
    .build-<pid>-*  a render in progress                        staging

Every file is written under a temporary name and renamed, so the directory
never holds half of one; readers get typed records, and one exception,
RunDirError or CheckpointError, for a file that is missing or damaged.
`open_run` reads a complete run directory as one `Cached` record.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labrnn.iorw import DAMAGED, atomic_write
from labrnn.layout import PACKAGE
from labrnn.report import execute
from labrnn.rnn.corpus import shown
from labrnn.rnn.gradcheck import GradCheck
from labrnn.rnn.model import NAMES
from labrnn.rnn.train import Best, Broken, CheckpointError, Run, Sample, Trainer
from labrnn.settings import ConfigError, Settings
from labrnn.student.diagnose import Diagnosis
from labrnn.student.grading import Grader, Record
from labrnn.version import __version__

META = {"settings": dict, "corpus": dict, "step": int, "samples": list, "diverged": (dict, type(None)),
        "rng": dict, "train_seconds": (int, float), "wall_seconds": (int, float), "eval_seconds": (int, float)}


class RunDirError(ValueError):
    """A run directory that is missing or damaged, or one labrnn may not write in."""


MARK = ".labrnn"            # in every directory labrnn made: the only ones it writes, renames or deletes in
PROJECT = PACKAGE.parent


def claim(path: Path) -> Path:
    """Make `path` a directory of labrnn's, or refuse in one line (RunDirError).

    Directories it creates, parents too, get the mark; an existing one is labrnn's when it has the mark, is
    empty, or holds a readable labrnn run (or, for a directory of reports, such runs) from before the mark
    existed.  Any other directory is the user's: labrnn never deletes or overwrites a file there.
    """
    path = Path(os.path.abspath(path))
    if path == Path(path.anchor) or path == Path.home().absolute() or (
            path == PROJECT and (PROJECT / "pyproject.toml").exists()):
        raise RunDirError(f"{shown(str(path))} is the root, the home directory or the project's directory: "
                          "name a directory of its own for labrnn to write in")
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{shown(str(path))} exists and is not a directory")
    if not path.exists():
        missing = [p for p in (path, *path.parents) if not p.exists()]
        path.mkdir(parents=True)
        for made in missing:
            (made / MARK).touch()
    elif not owned(path):
        raise RunDirError(f"{shown(str(path))} holds files labrnn did not write; choose a new or empty directory "
                          "(labrnn never deletes or overwrites files it did not write)")
    return path


def owned(path: Path) -> bool:
    """Whether labrnn may write in the existing directory `path` (marking it if it adopts it)."""
    if (path / MARK).exists():
        return True
    ours = _holds_run(path) or all(_ours_inside(c) for c in path.iterdir())     # empty, a run, or reports
    if ours:
        (path / MARK).touch()
    return ours


def _ours_inside(child: Path) -> bool:
    """What a directory of reports from before the mark holds: runs, sweeps and the index."""
    if child.is_dir():
        return (child / MARK).exists() or _holds_run(child) or (child / "sweep.json").exists()
    return child.name == "index.html"


def _holds_run(path: Path) -> bool:
    rd = RunDir(path)
    if rd.read_key() is not None:
        return True
    try:
        rd.checkpoint_meta()
        return True
    except CheckpointError:
        return False


@dataclass(frozen=True)
class Key:
    """key.json: the cache key, and how to tell cheaply that the corpus file has not changed since."""
    key: dict
    data: str | None
    data_stamp: list | None
    trained_at: str


def versions() -> dict:
    import numba
    return {"labrnn": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__}


def run_record(run: Run) -> dict:
    """The run.json document."""
    return {
        "params": run.settings.numbers(),
        "corpus": run.corpus,
        "model": run.model,
        "samples": [s.to_dict() for s in run.samples],
        "best": run.best.to_dict(),
        "steps_done": run.steps_done,
        "epochs_done": run.epochs_done,
        "steps_per_epoch": run.steps_per_epoch,
        "epoch_boundaries": run.epoch_boundaries,
        "interrupted": run.interrupted,
        "diverged": run.diverged,
        "broken": run.broken and run.broken.to_dict(),
        "initial_smooth_loss": float(run.curve[0]) if len(run.curve) else None,
        "final_smooth_loss": float(run.curve[-1]) if len(run.curve) else None,
        "wall_seconds": round(run.wall_seconds, 3),
        "train_seconds": round(run.train_seconds, 3),
        "steps_per_second": round(run.steps_per_second, 1),
        "versions": versions(),
        "holdout": {"share": run.settings.holdout, "train_chars": run.train_chars,
                    "heldout_chars_scored": run.heldout_chars_scored},
        "eval_seconds": run.eval_seconds,
        "chance_share": run.chance_share,
        "sample_seconds": run.sample_seconds,
        "compile_seconds": run.compile_seconds,
        **({"grading": run.grading.to_dict()} if run.grading else {}),     # their model: what labrnn compared
    }


class RunDir:
    RUN, ARRAYS, CHECKPOINT, GRADCHECK, KEY, LOCK = "run.json", "run.npz", "checkpoint.npz", "gradcheck.json", \
        "key.json", ".lock"
    REPORT, PDF, FAILED = "report.html", "report.pdf", "failed"
    NOTEBOOKS = execute.NOTEBOOKS           # the executed notebooks

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __str__(self) -> str:
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    def make(self) -> "RunDir":
        """The directory, claimed for labrnn (see `claim`)."""
        claim(self.path)
        return self

    def lock(self):
        """Held while a run is made or reused: a second report with the same key waits, then reuses."""
        from filelock import FileLock
        return FileLock(self / self.LOCK)

    def _write_json(self, name: str, doc: dict) -> None:
        try:
            data = (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
        except UnicodeEncodeError:      # a file name in bytes that are not UTF-8: kept exactly, as \udcXX escapes
            data = (json.dumps(doc, indent=1) + "\n").encode("ascii")
        atomic_write(self / name, lambda fh: fh.write(data))

    def remove(self, *names: str) -> None:
        for name in names:
            (self / name).unlink(missing_ok=True)

    # -- the run --------------------------------------------------------------------------------------------
    def train(self, trainer: Trainer, progress: bool, **checkpointing) -> Run:
        """Train to the end (or Ctrl-C), checkpointing here, and save the run here.  The run's key goes first:
        no key, no trusted run."""
        self.remove(self.KEY)
        run = trainer.run(progress=progress, checkpoint=self.save_checkpoint, **checkpointing)
        self.save_run(run)
        return run

    def save_run(self, run: Run) -> None:
        self.make()
        arrays = {"curve": run.curve, **{f"best_{k}": v for k, v in run.best_params.items()}}
        atomic_write(self / self.ARRAYS, lambda fh: np.savez_compressed(fh, **arrays))
        self._write_json(self.RUN, run_record(run))

    def load_run(self) -> Run:
        try:
            record = json.loads((self / self.RUN).read_text(encoding="utf-8"))
            with np.load(self / self.ARRAYS) as npz:
                curve = npz["curve"]
                best_params = {k: npz[f"best_{k}"] for k in NAMES}
            return Run(
                settings=Settings(**record["params"]), corpus=record["corpus"], curve=curve,
                samples=[Sample(**s) for s in record["samples"]], best=Best(**record["best"]),
                best_params=best_params, steps_done=record["steps_done"], epochs_done=record["epochs_done"],
                steps_per_epoch=record["steps_per_epoch"], interrupted=record["interrupted"],
                diverged=record.get("diverged"), broken=Broken(**record["broken"]) if record.get("broken") else None,
                model=record.get("model"), wall_seconds=record["wall_seconds"],
                grading=Record.from_dict(record["grading"]) if record.get("grading") else None,
                train_seconds=record["train_seconds"], eval_seconds=record.get("eval_seconds", 0.0),
                sample_seconds=record.get("sample_seconds", 0.0), compile_seconds=record.get("compile_seconds", 0.0),
                train_chars=record["holdout"]["train_chars"],
                heldout_chars_scored=record["holdout"]["heldout_chars_scored"], chance_share=record["chance_share"])
        except FileNotFoundError as err:
            raise RunDirError(f"no complete run in {self} ({Path(err.filename).name} is missing)") from None
        except DAMAGED as err:
            raise RunDirError(f"the run in {self} is damaged ({err}); train it again") from None

    # -- the checkpoint -------------------------------------------------------------------------------------
    @property
    def has_checkpoint(self) -> bool:
        return (self / self.CHECKPOINT).exists()

    def save_checkpoint(self, trainer: Trainer) -> None:
        arrays, meta = trainer.checkpoint()
        arrays["meta"] = np.array(json.dumps(meta))
        atomic_write(self / self.CHECKPOINT, lambda fh: np.savez(fh, **arrays))

    def checkpoint_meta(self) -> dict:
        """The checkpoint's metadata, checked field by field: a damaged or foreign one is a CheckpointError."""
        if not self.has_checkpoint:
            raise CheckpointError(f"no checkpoint in {self}: start the run again instead of resuming")
        try:
            with np.load(self / self.CHECKPOINT) as npz:
                meta = json.loads(str(npz["meta"]))
            for name, kind in META.items():
                if not isinstance(meta[name], kind):
                    raise TypeError(f"{name} is {type(meta[name]).__name__}")
            if not isinstance(meta["corpus"].get("sha256"), str):
                raise TypeError("corpus has no sha256")
            Settings(**meta["settings"])
            return meta
        except (*DAMAGED, ValueError) as err:
            raise CheckpointError(f"the checkpoint {self / self.CHECKPOINT} is damaged or of another version "
                                  f"({type(err).__name__}: {err})") from None

    def resume(self, corpus, sandbox=None) -> Trainer:
        """The trainer exactly as the checkpoint left it; `sandbox`, that of the model file it trains."""
        meta = self.checkpoint_meta()
        try:
            with np.load(self / self.CHECKPOINT) as npz:
                return Trainer.restore(corpus, npz, meta, str(self), sandbox and Grader(sandbox))
        except CheckpointError:
            raise
        except DAMAGED as err:
            raise CheckpointError(f"the checkpoint {self / self.CHECKPOINT} is damaged "
                                  f"({type(err).__name__}: {err})") from None

    def unfinished(self, corpus, sandbox=None) -> bool:
        """Whether the checkpoint here is of training that stopped before its end; `sandbox`, that of the model
        file it trains, or its ModelFile when nothing is run (the checkpoint only compares its hash)."""
        try:
            return not self.resume(corpus, sandbox).finished
        except (CheckpointError, ConfigError, *DAMAGED):
            return False                     # damaged or of another corpus: nothing worth resuming

    # -- the gradient check and the key ---------------------------------------------------------------------
    def save_gradcheck(self, check: GradCheck, diagnosis: Diagnosis) -> None:
        """The gradient check, with the model's comparison with the reference beside it under "diagnosis"."""
        self._write_json(self.GRADCHECK, {**check.to_dict(), "diagnosis": diagnosis.to_dict()})

    def _gradcheck_doc(self) -> dict:
        try:
            return json.loads((self / self.GRADCHECK).read_text(encoding="utf-8"))
        except DAMAGED as err:
            raise RunDirError(f"the gradient check in {self} is damaged or missing ({err})") from None

    def load_gradcheck(self) -> GradCheck:
        try:
            return GradCheck.from_dict(self._gradcheck_doc())
        except DAMAGED as err:
            raise RunDirError(f"the gradient check in {self} is damaged ({err})") from None

    def load_diagnosis(self) -> Diagnosis:
        try:
            return Diagnosis.from_dict(self._gradcheck_doc()["diagnosis"])
        except DAMAGED as err:
            raise RunDirError(f"the diagnosis in {self} is damaged or missing ({type(err).__name__}: {err})") \
                from None

    def save_key(self, key: Key) -> None:
        self._write_json(self.KEY, vars(key))

    def read_key(self) -> Key | None:
        """key.json, or None when it is missing or damaged (then the run is made again)."""
        try:
            key = Key(**json.loads((self / self.KEY).read_text(encoding="utf-8")))
        except (*DAMAGED, ValueError):
            return None
        return key if isinstance(key.key, dict) else None

    # -- rendering: a staging directory per render, published by renaming --------------------------------------
    def staging(self) -> Path:
        """A fresh staging directory, after removing those a killed process left (its pid is in the name)."""
        for build in self.path.glob(".build-*"):
            try:
                os.kill(int(build.name.split("-")[1]), 0)
            except (ValueError, ProcessLookupError):
                shutil.rmtree(build, ignore_errors=True)
            except PermissionError:
                pass                                   # alive, another user's
        return Path(tempfile.mkdtemp(dir=self.path, prefix=f".build-{os.getpid()}-"))

    def publish(self, build: Path, names) -> None:
        """Move the finished files of a render into place, and drop an older failed render's notebooks."""
        for name in names:
            os.replace(build / name, self / name)
        shutil.rmtree(self / self.FAILED, ignore_errors=True)

    def keep_failed(self, build: Path) -> Path:
        """A failed render's staging directory, kept as failed/ for the user to read."""
        failed = self / self.FAILED
        shutil.rmtree(failed, ignore_errors=True)
        os.replace(build, failed)
        return failed


@dataclass
class Cached:
    """What a run directory holds: the run, its gradient check and the model's comparison with labrnn's
    reference (`Diagnosis`), and when it was trained."""
    run: Run
    check: GradCheck
    run_dir: RunDir
    trained_at: str
    trained_now: bool
    diagnosis: Diagnosis | None = None


def open_run(rd: RunDir) -> Cached:
    """The complete run in rd, as it is."""
    key = rd.read_key()
    if key is None:
        raise RunDirError(f"no complete run in {rd} (key.json is missing or damaged)")
    return Cached(rd.load_run(), rd.load_gradcheck(), rd, key.trained_at, trained_now=False,
                  diagnosis=rd.load_diagnosis())
