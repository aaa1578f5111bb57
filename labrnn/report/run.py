"""The life of one run, as named steps: its directory, reuse, check the model, resume or start, train, save.

`ensure_run` walks them in order (like papermill's `execute_notebook`): a run directory holding the run its
key describes (`labrnn.report.cache`) is reused; otherwise the model is checked, training resumes from the
checkpoint or starts, and the run, its gradient check and, last, its key are saved.  `labrnn train` walks
`start_or_resume` and `train` too, so an interrupted run is continued with resume, started again with force,
and refused otherwise, whichever command made it: an afternoon of training is never thrown away silently.
The notebooks call `notebook_run`: they load the run `make report` trained, or, opened on their own, make
the run their parameters describe under the system's temporary directory (so the four notebooks share it).
"""
from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

from labrnn.iorw import DAMAGED
from labrnn.report.cache import cache_key, matches
from labrnn.report.rundir import Cached, Key, RunDir, RunDirError, open_run
from labrnn.rnn.corpus import Corpus, load_corpus
from labrnn.rnn.gradcheck import GradCheck, check_size, gradcheck
from labrnn.rnn.model import loss_and_grads as own_loss_and_grads
from labrnn.rnn.train import CheckpointError, Run, Trainer
from labrnn.settings import ConfigError, Settings
from labrnn.student.diagnose import Diagnosis, at_run_size, diagnose, with_training
from labrnn.student.grading import Grader
from labrnn.student.sandbox import ModelFile, Sandbox, opened, read_model


class ReportError(Exception):
    """A report that could not be made; the message is one line for the user."""


def ensure_run(settings: Settings, corpus: Corpus | None = None, *, progress: bool = False,
               model_file: ModelFile | None = None, sandbox: Sandbox | None = None) -> Cached:
    """The run and gradient check that `settings` describe: loaded from settings.run_dir, or made and saved there.

    `model_file`: settings.model as the caller read it at its boundary (`labrnn.student.sandbox.read_model`), None for
    labrnn's own model; `sandbox`: its sandbox, when the caller has opened it (`labrnn.student.sandbox.opened`), or it
    is opened here when the run has to be made."""
    if (settings.model is None) != (model_file is None):
        raise ValueError("ensure_run takes the model file settings.model names as read, and only then")
    if settings.run_dir is None:
        corpus = corpus or load_checked(settings)
    rd = run_dir(settings, corpus, model_file).make()
    with rd.lock():
        cached = reuse(rd, settings, corpus, model_file)
        if cached is not None:
            return cached
        corpus = corpus or load_checked(settings)
        with ExitStack() as stack:
            sandbox = sandbox or stack.enter_context(opened(model_file, settings, corpus))
            check, diagnosis = check_model(settings, corpus, sandbox)
            trainer = start_or_resume(settings, rd, corpus, sandbox)
            run = train(trainer, rd, progress)              # their process ends there
        if run.interrupted:
            raise ReportError(f"training was interrupted at step {run.steps_done:,} and checkpointed in "
                              f"{rd}; no report written. Add RESUME=1 (--resume) to continue it")
        return save(rd, settings, corpus, model_file, run, check, diagnosis)


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


def run_dir(settings: Settings, corpus: Corpus | None, model_file: ModelFile | None) -> RunDir:
    """settings.run_dir, or where a notebook opened on its own keeps the run its parameters describe."""
    if settings.run_dir is not None:
        return RunDir(settings.run_dir)
    name = settings.name(corpus.info(), model_file and model_file.info())
    return RunDir(Path(tempfile.gettempdir()) / f"labrnn-notebooks-{os.getuid()}" / name)


def reuse(rd: RunDir, settings: Settings, corpus: Corpus | None, model_file: ModelFile | None) -> Cached | None:
    """The complete run in rd when its key is the one `settings` describe and force is off; None when it has
    to be made (a damaged one is said so)."""
    if settings.force or not matches(rd.read_key(), settings, corpus, model_file):
        return None
    try:
        return open_run(rd)
    except (RunDirError, *DAMAGED):
        print(f"labrnn: the cached run in {rd} is damaged; training it again", file=sys.stderr)
        return None


def check_model(settings: Settings, corpus: Corpus, sandbox: Sandbox | None = None) -> tuple[GradCheck, Diagnosis]:
    """The gradient check of the model (their sandboxed function, or labrnn's own), and its comparison with
    labrnn's reference on the same small network, from the same seed: what the first notebook shows.  Their
    function is compared again at the run's own m (when it is not grad_m): right only for small networks is
    found out before training starts."""
    check = gradcheck(corpus, m=settings.grad_m, seq_length=settings.seq_length, seed=settings.seed,
                      h=settings.grad_h, loss_and_grads=sandbox)
    diagnosis = diagnose(sandbox or own_loss_and_grads, corpus.data, corpus.K, m=settings.grad_m,
                         seq_length=settings.seq_length, seed=settings.seed, clip=settings.clip, check=check)
    if sandbox is not None and settings.m != settings.grad_m:
        diagnosis = at_run_size(diagnosis, diagnose(sandbox, corpus.data, corpus.K, m=settings.m,
                                                    seq_length=settings.seq_length, seed=settings.seed,
                                                    clip=settings.clip))
    return check, diagnosis


def start_or_resume(settings: Settings, rd: RunDir, corpus: Corpus, sandbox: Sandbox | None) -> Trainer:
    """The one resume policy: the trainer the checkpoint in rd left when resume is asked (and its settings
    are these), a fresh one otherwise, but never over training that stopped before its end unless force
    is asked."""
    if settings.resume and not settings.force:
        if not rd.has_checkpoint:
            raise ReportError(f"RESUME=1, but {rd} holds no checkpoint to resume; drop RESUME=1 to start the run")
        try:
            trainer = rd.resume(corpus, sandbox)
        except CheckpointError as err:
            raise CheckpointError(f"{err}; FORCE=1 starts the run again") from None
        if trainer.settings.numbers() != settings.numbers():
            raise ReportError(f"the checkpoint in {rd} is of other settings; FORCE=1 starts again")
        print(f"labrnn: resuming the run in {rd} at step {trainer.step:,} of {trainer.total:,}", file=sys.stderr)
        return trainer
    if rd.has_checkpoint and not settings.force and _unfinished(rd, corpus, sandbox):
        step = rd.checkpoint_meta()["step"]
        raise ReportError(f"the run in {rd} was interrupted at step {step:,}: add RESUME=1 to continue it, "
                          "or FORCE=1 to start it again")
    rd.remove(RunDir.KEY, RunDir.CHECKPOINT, RunDir.RUN, RunDir.ARRAYS, RunDir.GRADCHECK)
    return Trainer(corpus, settings, sandbox and Grader(sandbox))


def train(trainer: Trainer, rd: RunDir, progress: bool, **checkpointing) -> Run:
    """Train to the end (or Ctrl-C), checkpointing into rd, and save the run there.  The run's key goes first:
    no key, no trusted run."""
    rd.remove(RunDir.KEY)
    run = trainer.run(progress=progress, checkpoint=rd.save_checkpoint, **checkpointing)
    rd.save_run(run)
    return run


def save(rd: RunDir, settings: Settings, corpus: Corpus, model_file: ModelFile | None, run: Run,
         check: GradCheck, diagnosis: Diagnosis) -> Cached:
    """The gradient check and the diagnosis (with what training compared) beside the run, then its key."""
    diagnosis = with_training(diagnosis, run.grading)       # their model: what training compared
    rd.save_gradcheck(check, diagnosis)
    trained_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    stamp = list(corpus.stamp) if corpus.stamp else None       # the file as it was read, not as it is now
    key = cache_key(settings, corpus.sha256, model_file and model_file.sha256)
    rd.save_key(Key(key, settings.data, stamp, trained_at))
    return Cached(run, check, rd, trained_at, trained_now=True, diagnosis=diagnosis)


def notebook_run(parameters: Mapping) -> Cached:
    """What a notebook shows: the run in its `run_dir` parameter (the one `make report` made), or, when that
    is None, the run its other parameters describe, made once under the system's temporary directory."""
    if parameters.get("run_dir") is not None:
        return open_run(RunDir(parameters["run_dir"]))
    settings = Settings.of(parameters)
    return ensure_run(settings, model_file=read_model(settings.model))


def interrupted(rd: RunDir, settings: Settings, corpus: Corpus, model_file: ModelFile | None = None) -> bool:
    """Whether rd holds the checkpoint of training that stopped before its end (a sweep's client asks, without
    starting the model file's sandbox: only its hash is compared)."""
    return _unfinished(rd, corpus, model_file or read_model(settings.model))


def _unfinished(rd: RunDir, corpus: Corpus, sandbox: Sandbox | ModelFile | None) -> bool:
    """Whether the checkpoint in rd is of training that stopped before its end; `sandbox`, that of settings.model,
    or its ModelFile when nothing is run (the checkpoint only compares its hash)."""
    try:
        return not rd.resume(corpus, sandbox).finished
    except (CheckpointError, ConfigError, *DAMAGED):
        return False                     # damaged or of another corpus: nothing worth resuming
