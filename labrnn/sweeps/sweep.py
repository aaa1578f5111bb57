"""A sweep: the grid's reports made on a Dask cluster, then their comparison.

`make_sweep` plans (`Plan`: which combinations their run directories decide here, which go to the cluster),
then loops over Dask's `as_completed` as distributed's own examples do: each answer is checked and written as
it arrives (`Sender.collect`), and the next task is added to the loop in its place, so JOBS reports are in
flight and the rest waits here (Ctrl-C has little to undo).  A `Tally` logs one line per combination and counts
the progress bar.  Cached runs are re-rendered in this process meanwhile.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

from labrnn.progress import bar as progress_bar
from labrnn.report.cache import run_key
from labrnn.report.pipeline import make_report
from labrnn.report.checks import check_model
from labrnn.report.run import interrupted
from labrnn.report.rundir import MARK, RunDir, RunDirError, claim
from labrnn.rnn.corpus import Corpus
from labrnn.settings import Settings
from labrnn.student import similar
from labrnn.student.sandbox import ModelFile, opened
from labrnn.sweeps import cluster, gradebook, task
from labrnn.sweeps.comparison import Done, index, number, write_comparison
from labrnn.sweeps.grid import check, fmt, label, sweep_name, varied

RETRIES = 2         # a task that raises (not a report's own failure) runs again, on any worker, twice at most


@dataclass
class SweepResult:
    comparison: Path | None             # None when every combination failed
    done: list[Done]
    failed: list[tuple[Settings, str]]
    grades: list[gradebook.Grade] = field(default_factory=list)     # a class's sweep: one per submission

    @property
    def failures(self) -> list[tuple[Settings, str]]:
        """Every combination whose outcome failed, with its status as the gradebook writes it: did not run (it made
        no report) or failed (its report is written, and its model fails its check, differs from the reference or
        broke in training)."""
        return [(p, gradebook.NOT_RUN) for p, _ in self.failed] + \
            [(d.settings, gradebook.FAILED) for d in self.done if gradebook.problems(d.run, d.check, d.diagnosis)]

    @property
    def problems(self) -> bool:
        """Whether any combination failed (exit code 1)."""
        return bool(self.failures)


def work(s: Settings, corpus: Corpus) -> int:
    """A run's training cost in relative units: updates x characters per update x products per character."""
    return s.total_steps(s.split(corpus.size)) * s.seq_length * s.m * (s.m + corpus.K)


def _say(msg: str) -> None:
    """A line on stderr above the progress bar."""
    from tqdm import tqdm
    tqdm.write(msg, file=sys.stderr)


def _here(settings: Settings, rd: RunDir, corpus: Corpus) -> bool:
    """Whether the run directory decides this combination without training: a cached run (re-rendered
    here), or an interrupted run that RESUME=1 or FORCE=1 must settle (refused here, as make_report does)."""
    if settings.force:
        return False
    stored = rd.read_key()
    if stored is not None and stored.key == run_key(settings, corpus):
        return True
    return not settings.resume and rd.has_checkpoint and interrupted(rd, settings, corpus)


@dataclass(frozen=True)
class Plan:
    """What a sweep runs, decided before anything is written: the checked combinations, which of them their run
    directories decide here, which go to the cluster (the longest first), where, and how many at a time."""
    combos: list[Settings]
    corpus: Corpus
    names: list[str]            # the swept settings that vary
    name: str                   # the sweep's directory is sweep-<name>
    reports: Path
    here: list[Settings]
    there: list[Settings]
    where: str | None           # the scheduler's address; None: a cluster on this machine
    workers: int
    window: int                 # reports in flight at once
    model_files: dict[str, ModelFile]   # each model file as read once here, by its path as the settings name it

    @classmethod
    def of(cls, combos: list[Settings]) -> "Plan":
        """The plan of the grid; ConfigError, CorpusError or ClusterError (an unreadable address) first."""
        corpus, model_files = check(combos)
        reports = Path(os.path.abspath(combos[0].reports))
        combos = [replace(c, reports=str(reports)) for c in combos]
        def named(c: Settings) -> RunDir:
            return RunDir(reports / c.name(corpus.info(), c.model and model_files[c.model].info()))
        here = [c for c in combos if _here(c, named(c), corpus)]
        there = sorted((c for c in combos if c not in here), key=lambda p: -work(p, corpus))
        where = cluster.address(combos[0].scheduler, combos[0].scheduler_file)
        jobs = combos[0].jobs
        workers = max(1, min(jobs or cluster.cores(), len(there)))
        window = jobs or (workers if where is None else max(1, len(there)))
        return cls(combos, corpus, varied(combos), sweep_name(combos, corpus.info()), reports, here, there,
                   where, workers, window, model_files)

    def run_dir(self, settings: Settings) -> RunDir:
        info = settings.model and self.model_files[settings.model].info()
        return RunDir(self.reports / settings.name(self.corpus.info(), info))

    def summary(self) -> str:
        on = self.where or f"{self.workers} local worker" + "s" * (self.workers > 1)
        return (f"sweep {self.name}: {len(self.combos)} reports, {len(self.here)} from their run directories "
                f"(cached runs re-rendered here), {len(self.there)} to make on {on}, {self.window} at a time")


@dataclass
class Tally:
    """What finished and what failed, each logged in one line as it arrives and counted by the progress bar."""
    total: int
    names: list[str]
    log: Callable[[str], None]
    bar: object
    done: list[Done] = field(default_factory=list)
    failed: list[tuple[Settings, str]] = field(default_factory=list)

    def _count(self) -> str:
        return f"[{len(self.done) + len(self.failed)}/{self.total}]"

    def fail(self, settings: Settings, why: str) -> None:
        self.failed.append((settings, why))
        self.log(f"{self._count()} {label(settings, self.names)}: FAILED: {why}")
        self.bar.update()

    def finished(self, settings: Settings, rd: RunDir, seconds: float, trained: bool, worker: str | None) -> None:
        self.done.append(replace(Done.of(rd), settings=settings))
        best = self.done[-1].run.best.smooth_loss
        self.log(f"{self._count()} {label(settings, self.names)}: {seconds:.1f} s"
                 f"{f' on {worker}' if worker else ''}{'' if trained else ' (cached run)'}, min smooth loss "
                 f"{number(best)} = {number(best / settings.seq_length, '.3f')} nats/char; {rd / RunDir.REPORT}")
        self.bar.update()


class Sender:
    """The cluster's share of a plan: tasks submitted up to the window, the answers as they complete."""

    def __init__(self, client, allowed, plan: Plan, tally: Tally, notebooks: Path | None):
        from distributed import as_completed
        self.client, self.allowed, self.plan, self.tally, self.notebooks = client, allowed, plan, tally, notebooks
        self.waiting, self.running, self.sent = iter(plan.there), {}, {}
        self.identity = cluster.identity()
        self.completed = as_completed(loop=client.loop)

    def top_up(self) -> None:
        """Tasks up to the window (a combination whose task cannot even be made fails here)."""
        for settings in self.waiting if len(self.running) < self.plan.window else ():
            rd = self.plan.run_dir(settings)
            try:
                rd.make()
                checkpoint = rd / RunDir.CHECKPOINT if settings.resume and rd.has_checkpoint else None
                t = task.task(replace(settings, resume=checkpoint is not None), rd.name, checkpoint, self.identity,
                              self.notebooks)
                files = {n: self.shipped(settings, n) for n in task.files(settings)}
            except (RunDirError, OSError) as err:
                self.tally.fail(settings, task.one_line(err))
                continue
            future = self.client.submit(task.run, t, files, key=f"report-{rd.name}-{uuid.uuid4().hex[:8]}",
                                        retries=RETRIES, workers=self.allowed, allow_other_workers=False)
            self.running[future] = (settings, rd)
            self.completed.add(future)
            if len(self.running) >= self.plan.window:
                return

    def shipped(self, settings: Settings, setting: str) -> tuple:
        """A file setting's name and content, sent to the cluster once for every task that needs it: as a task
        of its own, which the scheduler can run again if the worker holding its result dies (scattered
        data would be lost with that worker, and every task needing it cancelled).  A model file travels as
        the plan read it: the bytes checked first and named are the bytes that run."""
        path = Path(getattr(settings, setting))
        if path not in self.sent:
            read = self.plan.model_files.get(settings.model) if setting == "model" else None
            content = read.source if read is not None else path.read_bytes()
            self.sent[path] = (path.name, self.client.submit(bytes, content, workers=self.allowed,
                                                             allow_other_workers=False))
        return self.sent[path]

    def abandon(self) -> None:
        """The run directories of the tasks still in flight when the sweep stops (Ctrl-C) removed, when they hold
        nothing: no directory for no report (one with a checkpoint to resume stays)."""
        for _, rd in self.running.values():
            _drop_if_empty(rd)

    def ready(self) -> list:
        """The tasks finished by now, without waiting."""
        return self.completed.next_batch(block=False) if self.running else []

    def collect(self, future) -> None:
        """One answer checked (names, size, cache key) and written into its run directory, then tallied."""
        settings, rd = self.running.pop(future)
        try:
            outcome = future.result()
            task.within(outcome.files, settings, self.plan.corpus.size, self.plan.corpus.K, outcome.worker)
            if RunDir.KEY in outcome.files and \
                    json.loads(outcome.files[RunDir.KEY])["key"] != run_key(settings, self.plan.corpus):
                raise RunDirError(f"worker {outcome.worker} made the run under another cache key; "
                                  "nothing it returned was written")
            task.publish(rd, outcome.files)
            if not outcome.error:
                self.tally.finished(settings, rd, outcome.seconds, outcome.trained, outcome.worker)
        except Exception as err:            # any failure of one report, or of its worker: the others go on
            self.tally.fail(settings, task.one_line(err))
        else:
            if outcome.error:
                self.tally.fail(settings, outcome.error)
        finally:
            future.release()
            _drop_if_empty(rd)


def check_first(plan: Plan, tally: Tally) -> Plan:
    """Every model file the cluster is to train, imported and checked here (contract, gradient check, diagnosis)
    before any training starts, as many at once as this machine has cores (each runs in its own sandbox), one
    line per file in the order of their names; a file that fails is failed at once in every combination, and the
    plan keeps only the others.  Each report checks its model again on its own."""
    first: dict[str, Settings] = {}
    for settings in plan.there:
        if settings.model is not None:
            first.setdefault(settings.model, settings)

    running, stopping = [], threading.Event()

    def watch(sandbox) -> None:
        running.append(sandbox)
        if stopping.is_set():                       # started after Ctrl-C was handled
            sandbox.kill()

    def checked(path: str):
        """(gradient check, diagnosis), or the one line that says why the file did not run."""
        try:
            with opened(plan.model_files[path], first[path], plan.corpus, watch=watch) as sandbox:
                return check_model(first[path], plan.corpus, sandbox)
        except task.OURS as err:
            return task.one_line(err)
    refused: dict[str, str] = {}
    paths = sorted(first)
    pool = ThreadPoolExecutor(max_workers=cluster.cores())
    try:
        futures = [pool.submit(checked, path) for path in paths]
        for i, (path, outcome) in enumerate(zip(paths, map(_waited, futures)), 1):
            where = f"[check {i}/{len(paths)}] {fmt(path, 'model')}:"
            if isinstance(outcome, str):
                refused[path] = outcome
                tally.log(f"{where} did not run: {outcome}")
                continue
            check, diagnosis = outcome
            failing = [r.name for r in check.rows if not r.passed]
            tally.log(f"{where} gradients {'FAIL ' + ' '.join(failing) if failing else 'pass'}, "
                      f"{diagnosis.summary()}")
    except BaseException:                           # Ctrl-C: the files not yet started are not started, and
        pool.shutdown(wait=False, cancel_futures=True)
        stopping.set()
        for sandbox in list(running):               # those under way are killed rather than waited for
            sandbox.kill()
        raise
    finally:
        pool.shutdown()
    for settings in plan.there:
        if settings.model in refused:
            tally.fail(settings, refused[settings.model])
    return replace(plan, there=[s for s in plan.there if s.model not in refused])


def _waited(future):
    """The future's result, waited for in slices of 0.2 s: a Ctrl-C whose signal reached another thread is
    raised here within 0.2 s, not when the check under way ends."""
    while True:
        try:
            return future.result(timeout=0.2)
        except TimeoutError:
            continue


def _drop_if_empty(rd: RunDir) -> None:
    """Remove a run directory that holds nothing but labrnn's mark and lock: no directory for no report."""
    if rd.path.is_dir() and {p.name for p in rd.path.iterdir()} <= {MARK, RunDir.LOCK}:
        shutil.rmtree(rd.path, ignore_errors=True)


def remake(settings: Settings, plan: Plan, tally: Tally, notebooks: Path | None) -> None:
    """A combination its run directory decides, made here: a cached run re-rendered, an interrupted one refused."""
    t0 = time.perf_counter()
    try:
        result = make_report(settings, notebooks=notebooks, log=lambda msg: None, progress=False)
        tally.finished(settings, RunDir(result.run_dir), time.perf_counter() - t0, result.trained, None)
    except task.OURS as err:
        tally.fail(settings, task.one_line(err))


def make_sweep(combos: list[Settings], *, notebooks: Path | None = None, progress: bool = True,
               log=_say) -> SweepResult:
    """Everything `make sweep` does: check every combination, make their reports on a Dask cluster, compare them.

    Bad input raises ConfigError or CorpusError, and a scheduler that cannot be reached ClusterError, before
    anything is written.  Cached runs are re-rendered here; the others are sent, JOBS at a time, to the cluster
    (`labrnn.sweeps.cluster`) as tasks that carry what they need (`labrnn.sweeps.task`).  A failing combination is
    logged and listed in the result; the others still make their reports and the comparison.  With resume, the runs an
    interrupted sweep left with a checkpoint continue from it, on any worker, and the others start.
    """
    plan = Plan.of(combos)
    with ExitStack() as stack:
        client = sender = None
        if plan.there or plan.where is not None:    # a scheduler named is reached, or refused, before anything else
            client = stack.enter_context(cluster.connect(plan.where, plan.workers))
            allowed = cluster.usable_workers(client, log, plan.combos[0].worker_timeout)
        claim(plan.reports)
        log(plan.summary())
        if client is not None and (link := cluster.dashboard_link(client)):
            log(f"dashboard: {link}")
        bar = stack.enter_context(progress_bar(total=len(plan.combos), desc="sweep", unit="report",
                                               enabled=progress))
        tally = Tally(len(plan.combos), plan.names, log, bar)
        plan = check_first(plan, tally)
        if client is not None:
            sender = Sender(client, allowed, plan, tally, notebooks)
            stack.callback(sender.abandon)
            sender.top_up()
        for settings in plan.here:                  # meanwhile the cluster works
            remake(settings, plan, tally, notebooks)
            for future in sender.ready() if sender is not None else []:
                sender.collect(future)
                sender.top_up()
        for future in sender.completed if sender is not None and sender.running else []:
            sender.collect(future)
            sender.top_up()
    return compared(plan, tally)


def compared(plan: Plan, tally: Tally) -> SweepResult:
    """The comparison of what finished (and the index), a class's gradebook beside it, every combination that
    failed named in the last line, as the gradebook counts it."""
    comparison, grades, out = None, [], plan.reports / f"sweep-{plan.name}"
    sources = {path: f.source for path, f in plan.model_files.items()}     # keyed as the settings name them
    same = similar.groups(sources)
    if tally.done:
        comparison = write_comparison(out, plan.name, plan.corpus.info(), tally.done, tally.failed, plan.names,
                                      same=same)
        tally.log(f"comparison of {len(tally.done)} runs: {comparison}")
        index(plan.reports)
    if plan.model_files:
        grades = gradebook.of_sweep(tally.done, tally.failed, sources, same, claim(out))
        tally.log(f"gradebook: {gradebook.write(out, grades)[0]}")
    result = SweepResult(comparison, tally.done, tally.failed, grades)
    if failures := sorted((label(p, plan.names), status) for p, status in result.failures):
        tally.log(f"{len(failures)} of {len(plan.combos)} failed: "
                  + "; ".join(f"{name} ({status})" for name, status in failures))
    return result
