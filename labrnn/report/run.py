"""The life of one run, as named steps: reuse, check the model, resume or start, train, save.

`ensure_run` walks them in order (like papermill's `execute_notebook`), each step in the module whose part it is: a
run directory holding the run its key describes is reused (`labrnn.report.cache`); otherwise the corpus and the model
are checked (`labrnn.report.checks`), training resumes from the checkpoint or starts (`start_or_resume`), trains into
the run directory (`RunDir.train`), and the run, its gradient check and, last, its key are saved (`cache.save`).
`labrnn train` walks `start_or_resume` and `RunDir.train` too, so an interrupted run is continued with resume,
started again with force, and refused otherwise, whichever command made it: an afternoon of training is never
thrown away silently.  The notebooks call `notebook_run`: they load the run `make report` trained, or, opened on
their own, make the run their parameters describe under the system's temporary directory (so the four notebooks
share it).
"""
from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from labrnn.report.cache import reuse, save
from labrnn.report.checks import check_model, load_checked
from labrnn.report.rundir import Cached, RunDir, open_run
from labrnn.rnn.corpus import Corpus
from labrnn.rnn.train import CheckpointError, Trainer
from labrnn.settings import Settings
from labrnn.student.grading import Grader
from labrnn.student.sandbox import ModelFile, Sandbox, opened, read_model


class ReportError(Exception):
    """A report that could not be made; the message is one line for the user."""


def ensure_run(settings: Settings, corpus: Corpus | None = None, *, progress: bool = False,
               model_file: ModelFile | None = None, sandbox: Sandbox | None = None) -> Cached:
    """The run and gradient check that `settings` describe: loaded from settings.run_dir, or made and saved there.

    `corpus`: settings.data as the caller read and checked it (`labrnn.report.checks.load_checked`), or None: it is
    read here when the run has to be made; `model_file`: settings.model as the caller read it at its boundary
    (`labrnn.student.sandbox.read_model`), None for labrnn's own model; `sandbox`: its sandbox, when the caller has
    opened it (`labrnn.student.sandbox.opened`), or it is opened here when the run has to be made."""
    if settings.run_dir is None:
        raise ValueError("ensure_run takes settings that name their run_dir (notebook_run names one)")
    if (settings.model is None) != (model_file is None):
        raise ValueError("ensure_run takes the model file settings.model names as read, and only then")
    rd = RunDir(settings.run_dir)
    rd.make()
    with rd.lock():
        cached = reuse(rd, settings, corpus, model_file)
        if cached is not None:
            return cached
        corpus = corpus or load_checked(settings)
        with ExitStack() as stack:
            sandbox = sandbox or stack.enter_context(opened(model_file, settings, corpus))
            check, diagnosis = check_model(settings, corpus, sandbox)
            trainer = start_or_resume(settings, rd, corpus, sandbox)
            run = rd.train(trainer, progress)              # their process ends there
        if run.interrupted:
            raise ReportError(f"training was interrupted at step {run.steps_done:,} and checkpointed in "
                              f"{rd}; no report written. Add RESUME=1 (--resume) to continue it")
        return save(rd, settings, corpus, model_file, run, check, diagnosis)


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
    if rd.has_checkpoint and not settings.force and rd.unfinished(corpus, sandbox):
        step = rd.checkpoint_meta()["step"]
        raise ReportError(f"the run in {rd} was interrupted at step {step:,}: add RESUME=1 to continue it, "
                          "or FORCE=1 to start it again")
    rd.remove(RunDir.KEY, RunDir.CHECKPOINT, RunDir.RUN, RunDir.ARRAYS, RunDir.GRADCHECK)
    return Trainer(corpus, settings, sandbox and Grader(sandbox))


def notebook_run(parameters: Mapping) -> Cached:
    """What a notebook shows: the run in its `run_dir` parameter (the one `make report` made), or, when that
    is None, the run its other parameters describe, made once under the system's temporary directory."""
    if parameters.get("run_dir") is not None:
        return open_run(RunDir(parameters["run_dir"]))
    settings = Settings.of(parameters)
    model_file = read_model(settings.model)
    corpus = load_checked(settings)
    name = settings.name(corpus.info(), model_file and model_file.info())
    where = Path(tempfile.gettempdir()) / f"labrnn-notebooks-{os.getuid()}" / name
    return ensure_run(replace(settings, run_dir=str(where)), corpus, model_file=model_file)


def interrupted(rd: RunDir, settings: Settings, corpus: Corpus, model_file: ModelFile | None = None) -> bool:
    """Whether rd holds the checkpoint of training that stopped before its end (a sweep's client asks, without
    starting the model file's sandbox: only its hash is compared)."""
    return rd.unfinished(corpus, model_file or read_model(settings.model))
