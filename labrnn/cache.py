"""Train once: a run directory holds the run its key describes, or the run is made there.

The key is every setting that changes the numbers, the corpus's sha256, the
sha256 of the model file when there is one, and a fingerprint of the code that
computes them.  A second report with the same key
waits on the directory's lock, then reuses the run; an interrupted run is
continued with resume, started again with force, and refused otherwise, so an
afternoon of training is never thrown away silently.  The notebooks call
`notebook_run`: they load the run `make report` trained, or, opened on their
own, make the run their parameters describe under the system's temporary
directory (so the four notebooks share it).
"""
from __future__ import annotations

import functools
import hashlib
import os
import sys
import tempfile
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .version import __version__
from .corpus import Corpus, load_corpus
from .diagnose import Diagnosis, at_run_size, diagnose, with_training
from .gradcheck import GradCheck, check_size, gradcheck
from .iorw import DAMAGED
from .model import loss_and_grads as own_loss_and_grads
from .rundir import Key, RunDir, RunDirError
from .sandbox import opened, read_model
from .settings import ConfigError, Settings
from .train import CheckpointError, Run, Trainer


class ReportError(Exception):
    """A report that could not be made; the message is one line for the user."""


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


@functools.cache
def numerics_fingerprint() -> str:
    """A hash of the modules that make a run's numbers, so a cached run never outlives the code that made it."""
    digest = hashlib.sha256()
    for name in ("corpus", "model", "engines", "kernels", "train", "sample", "evaluate", "gradcheck", "diagnose",
                 "limits", "grading", "sandbox", "child"):
        digest.update((Path(__file__).parent / f"{name}.py").read_bytes())
    return digest.hexdigest()[:16]


def cache_key(settings: Settings, corpus_sha256: str, model_sha256: str | None = None) -> dict:
    return {"labrnn": __version__, "numerics": numerics_fingerprint(), "settings": settings.numbers(),
            "corpus_sha256": corpus_sha256, "model_sha256": model_sha256}


def _model_sha256(settings: Settings) -> str | None:
    return read_model(settings.model).sha256 if settings.model is not None else None


def run_key(settings: Settings, corpus: Corpus) -> dict:
    """The key of the run `settings` describe on `corpus`, the model file's content included."""
    return cache_key(settings, corpus.sha256, _model_sha256(settings))


def interrupted(rd: RunDir, settings: Settings, corpus: Corpus) -> bool:
    """Whether rd holds the checkpoint of training that stopped before its end (a sweep's client asks, without
    starting the model file's sandbox: only its hash is compared)."""
    return _unfinished(rd, corpus, read_model(settings.model) if settings.model is not None else None)


def _data_stamp(data: str | None) -> list | None:
    """Size and mtime of the corpus file now: a cheap stand-in for its sha256 (see Corpus.stamp)."""
    if data is None:
        return None
    try:
        st = os.stat(data)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _matches(stored: Key | None, settings: Settings, corpus: Corpus | None) -> bool:
    """With the corpus: compare the full key.  Without: trust the stored sha256 while the file is unchanged."""
    if stored is None:
        return False
    model = _model_sha256(settings)
    if corpus is not None:
        return stored.key == cache_key(settings, corpus.sha256, model)
    return (stored.key == cache_key(settings, stored.key.get("corpus_sha256"), model)
            and stored.data == settings.data and stored.data_stamp == _data_stamp(settings.data))


def load_checked(settings: Settings) -> Corpus:
    """The corpus, checked against the settings; CorpusError or ConfigError names the problem."""
    corpus = load_corpus(settings.data, keep_cr=settings.keep_cr)
    check_report(settings, corpus)
    return corpus


def check_report(settings: Settings, corpus: Corpus) -> None:
    """What a report needs of its settings and corpus: a run that fits, a gradient check of minutes at most."""
    settings.check_corpus(corpus)
    try:
        check_size(corpus.K, settings.grad_m, settings.seq_length)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def default_run_dir(settings: Settings, corpus: Corpus) -> Path:
    """Where a notebook opened on its own keeps the run its parameters describe."""
    return Path(tempfile.gettempdir()) / f"labrnn-notebooks-{os.getuid()}" / settings.name(corpus.info())


def ensure_run(settings: Settings, corpus: Corpus | None = None, *, progress: bool = False,
               model=None) -> Cached:
    """The run and gradient check that `settings` describe: loaded from settings.run_dir, or made and saved there.

    `model`: the sandbox of settings.model when the caller has opened it (`labrnn.sandbox.opened`); otherwise
    it is opened here when the run has to be made."""
    if settings.run_dir is None:
        corpus = corpus or load_checked(settings)
        rd = RunDir(default_run_dir(settings, corpus)).make()
    else:
        rd = RunDir(settings.run_dir).make()
    with rd.lock():
        stored = rd.read_key()
        if not settings.force and _matches(stored, settings, corpus):
            try:
                return open_run(rd)
            except (RunDirError, *DAMAGED):
                print(f"labrnn: the cached run in {rd} is damaged; training it again", file=sys.stderr)
        corpus = corpus or load_checked(settings)
        with ExitStack() as stack:
            if model is None and settings.model is not None:
                model = stack.enter_context(opened(settings, corpus))
            check, diagnosis = check_model(settings, corpus, model)
            rd.remove(RunDir.KEY)                   # the key goes last: no key, no trusted run
            trainer = _trainer(settings, rd, corpus, model)
            run = trainer.run(progress=progress, checkpoint=rd.save_checkpoint)     # their process ends there
        rd.save_run(run)
        if run.interrupted:
            raise ReportError(f"training was interrupted at step {run.steps_done:,} and checkpointed in "
                              f"{rd}; no report written. Add RESUME=1 (--resume) to continue it")
        diagnosis = with_training(diagnosis, run.grading)       # their model: what training compared
        rd.save_gradcheck(check, diagnosis)
        trained_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        stamp = list(corpus.stamp) if corpus.stamp else None       # the file as it was read, not as it is now
        key = cache_key(settings, corpus.sha256, model and model.model.sha256)
        rd.save_key(Key(key, settings.data, stamp, trained_at))
    return Cached(run, check, rd, trained_at, trained_now=True, diagnosis=diagnosis)


def check_model(settings: Settings, corpus: Corpus, model=None) -> tuple[GradCheck, Diagnosis]:
    """The gradient check of the model (their sandboxed function, or labrnn's own), and its comparison with
    labrnn's reference on the same small network, from the same seed: what the first notebook shows.  Their
    function is compared again at the run's own m (when it is not grad_m): right only for small networks is
    found out before training starts."""
    check = gradcheck(corpus, m=settings.grad_m, seq_length=settings.seq_length, seed=settings.seed,
                      h=settings.grad_h, loss_and_grads=model)
    diagnosis = diagnose(model or own_loss_and_grads, corpus.data, corpus.K, m=settings.grad_m,
                         seq_length=settings.seq_length, seed=settings.seed, clip=settings.clip, check=check)
    if model is not None and settings.m != settings.grad_m:
        diagnosis = at_run_size(diagnosis, diagnose(model, corpus.data, corpus.K, m=settings.m,
                                                    seq_length=settings.seq_length, seed=settings.seed,
                                                    clip=settings.clip))
    return check, diagnosis


def open_run(rd: RunDir) -> Cached:
    """The complete run in rd, as it is."""
    key = rd.read_key()
    if key is None:
        raise RunDirError(f"no complete run in {rd} (key.json is missing or damaged)")
    return Cached(rd.load_run(), rd.load_gradcheck(), rd, key.trained_at, trained_now=False,
                  diagnosis=rd.load_diagnosis())


def notebook_run(parameters: Mapping) -> Cached:
    """What a notebook shows: the run in its `run_dir` parameter (the one `make report` made), or, when that
    is None, the run its other parameters describe, made once under the system's temporary directory."""
    if parameters.get("run_dir") is not None:
        return open_run(RunDir(parameters["run_dir"]))
    return ensure_run(Settings.of(parameters))


def _unfinished(rd: RunDir, corpus: Corpus, model) -> bool:
    """Whether the checkpoint in rd is of training that stopped before its end."""
    try:
        return not rd.resume(corpus, model).finished
    except (CheckpointError, ConfigError, *DAMAGED):
        return False                     # damaged or of another corpus: nothing worth resuming


def _trainer(settings: Settings, rd: RunDir, corpus: Corpus, model) -> Trainer:
    """A fresh trainer, or the one the checkpoint in rd left, as the user asked."""
    if settings.resume and not settings.force:
        if not rd.has_checkpoint:
            raise ReportError(f"RESUME=1, but {rd} holds no checkpoint to resume; drop RESUME=1 to start the run")
        try:
            trainer = rd.resume(corpus, model)
        except CheckpointError as err:
            raise CheckpointError(f"{err}; FORCE=1 starts the run again") from None
        if trainer.settings.numbers() != settings.numbers():
            raise ReportError(f"the checkpoint in {rd} is of other settings; FORCE=1 starts again")
        print(f"labrnn: resuming the run in {rd} at step {trainer.step:,} of {trainer.total:,}", file=sys.stderr)
        return trainer
    if rd.has_checkpoint and not settings.force and _unfinished(rd, corpus, model):
        step = rd.checkpoint_meta()["step"]
        raise ReportError(f"the run in {rd} was interrupted at step {step:,}: add RESUME=1 to continue it, "
                          "or FORCE=1 to start it again")
    rd.remove(RunDir.CHECKPOINT, RunDir.RUN, RunDir.ARRAYS, RunDir.GRADCHECK)
    return Trainer(corpus, settings, model)
