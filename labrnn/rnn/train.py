"""AdaGrad training as the lab defines it, with periodic synthesis, the best
model kept, checkpoints to resume from, and divergence detected.

The loop advances in chunks between sample points and checkpoints; an engine
(`labrnn.rnn.engines`, chosen once from the `engine` setting) runs a chunk of updates, synthesizes and scores.
"""
from __future__ import annotations

import math
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace

import numpy as np

from labrnn.progress import bar as progress_bar
from labrnn.rnn import engines, evaluate
from labrnn.rnn.corpus import Corpus
from labrnn.rnn.engines import CEILING, DIVERGE_WINDOW, Hyperparameters, StepFailed, TrainState
from labrnn.rnn.model import NAMES, init_params
from labrnn.rnn.sample import synthesize
from labrnn.settings import Settings

CHUNK = 2_000                      # updates between progress-bar refreshes


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed; the message says why."""


@dataclass(frozen=True)
class Sample:
    """Text synthesized at one step, with what was measured there (the held-out loss only with a holdout)."""
    step: int
    text: str
    word_share: float
    word_spans: list[list[int]]
    heldout_loss_per_char: float | None = None
    heldout_bits_per_char: float | None = None
    smooth_loss: float = math.nan

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Best:
    """The passage the best model (the lowest smooth loss) writes, and the word share its length has by chance."""
    step: int
    smooth_loss: float
    text: str
    word_share: float
    word_spans: list[list[int]]
    chance_share: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Broken:
    """Where a student's model failed during training, and its message (file, line, what went wrong)."""
    step: int
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Run:
    """A finished, interrupted or diverged training run: what run.json and run.npz hold."""
    settings: Settings
    corpus: dict
    curve: np.ndarray                           # smooth loss at every step (before its update)
    samples: list[Sample]
    best: Best
    best_params: dict[str, np.ndarray]
    steps_done: int
    epochs_done: float
    steps_per_epoch: int
    interrupted: bool = False
    diverged: dict | None = None
    broken: Broken | None = None                # the step where their model failed, when it did
    model: dict | None = None                   # their model file (name, path, sha256); None: labrnn's own
    grading: object = None                      # their model: what labrnn compared (labrnn.student.grading.Record)
    wall_seconds: float = 0.0                   # the loop, compiling excluded
    train_seconds: float = 0.0                  # updating
    eval_seconds: float = 0.0                   # scoring the held-out text
    sample_seconds: float = 0.0                 # synthesizing text and counting its words
    compile_seconds: float = 0.0                # numba's compilation, when this run had to do it
    train_chars: int = 0
    heldout_chars_scored: int = 0
    chance_share: float = 0.0                   # the word share of a sample's length by chance (evaluate)

    @property
    def steps_per_second(self) -> float:
        return self.steps_done / self.train_seconds if self.train_seconds > 0 else 0.0

    @property
    def epoch_boundaries(self) -> list[int]:
        return list(range(self.steps_per_epoch, self.steps_done, self.steps_per_epoch))


class Trainer:
    """The whole state of a run: what a checkpoint holds, and the loop that advances it."""

    def __init__(self, corpus: Corpus, settings: Settings, grader=None, record: dict | None = None):
        """`grader`, for settings that name a model file: the `labrnn.student.grading.Grader` of its sandbox, which
        the numpy engine calls at every step: their gradients train, labrnn's forward pass gives every loss and
        the hidden state carried on (`record`: what a checkpoint kept of its grading)."""
        settings.check_corpus(corpus)
        if (settings.model is None) != (grader is None):
            raise ValueError("a Trainer takes the grader of settings.model, and only then")
        self.corpus, self.settings, self.grader = corpus, settings, grader
        self.model = grader and grader.sandbox
        n_train = settings.split(corpus.size)
        self.data = corpus.data[:n_train]
        self.heldout = corpus.data[n_train:n_train + evaluate.HELDOUT_MAX]
        chance_rng = np.random.default_rng([settings.seed, 2])       # its own stream: the run's draws stay as they are
        self.vocab, (self.chance, self.best_chance) = evaluate.words_and_chance(
            corpus, self.data, (settings.sample_len, settings.best_len), chance_rng)
        self.spe = settings.steps_per_epoch(n_train)
        self.total = settings.total_steps(n_train)
        if grader is not None:
            grader.plan(settings.seed, self.total, settings.clip, record)
        # the engine, chosen once: the numpy engine through their grader, or the one the settings name
        self.engine = engines.get(settings.engine) if self.grader is None else self.grader.engine()
        self.hyper = Hyperparameters.of(settings, corpus.K)
        self.rng = np.random.default_rng(settings.seed)
        self.state = TrainState.start(init_params(corpus.K, settings.m, settings.sigma, self.rng), self.total)
        self.samples: list[Sample] = []
        self.step = 0
        self.diverged: dict | None = None
        self.broken: Broken | None = None
        self.train_seconds = self.wall_seconds = self.eval_seconds = self.sample_seconds = 0.0
        self.compile_seconds = 0.0

    # -- checkpoints: what they hold (labrnn.report.rundir writes and reads the file) --------------------------------
    def checkpoint(self) -> tuple[dict[str, np.ndarray], dict]:
        """The arrays and the metadata from which `restore` rebuilds this trainer exactly."""
        meta = {"settings": self.settings.numbers(), "corpus": self.corpus.info(), "step": self.step,
                "samples": [x.to_dict() for x in self.samples], "diverged": self.diverged,
                "broken": self.broken and self.broken.to_dict(), "model": self.model and self.model.info(),
                "rng": self.rng.bit_generator.state, "train_seconds": self.train_seconds,
                "wall_seconds": self.wall_seconds, "eval_seconds": self.eval_seconds,
                "sample_seconds": self.sample_seconds, "compile_seconds": self.compile_seconds}
        if self.grader is not None:
            meta["grading"] = self.grader.record.to_dict()
        st = self.state
        arrays = {"state": st.vector, "curve": st.curve[:self.step], "losses": st.losses[:self.step]}
        for k, p, mem, best in zip(NAMES, st.params, st.mems, st.bests):
            arrays.update({f"param_{k}": p, f"mem_{k}": mem, f"best_{k}": best})
        return arrays, meta

    @classmethod
    def restore(cls, corpus: Corpus, arrays, meta: dict, where: str, grader=None) -> "Trainer":
        """The trainer the checkpoint describes; `grader`, that of the model file it was trained with."""
        model = grader and grader.sandbox
        if meta["corpus"]["sha256"] != corpus.sha256:
            raise CheckpointError(f"the corpus differs from the one the run in {where} was trained on "
                                  f"(sha256 {corpus.sha256[:12]} vs {meta['corpus']['sha256'][:12]})")
        saved, given = (meta.get("model") or {}).get("sha256"), model and model.info()["sha256"]
        if saved != given:
            def said(sha):
                return "labrnn's own model" if sha is None else f"the model file of sha256 {sha[:12]}"
            raise CheckpointError(f"the run in {where} was trained with {said(saved)}, not with {said(given)}; "
                                  "resume it with the file it was trained with")
        settings = Settings(**meta["settings"], model=model and model.info()["path"])
        self = cls(corpus, settings, grader, meta.get("grading"))
        st, step = self.state, meta["step"]
        for k, p, mem, best in zip(NAMES, st.params, st.mems, st.bests):
            p[:], mem[:], best[:] = arrays[f"param_{k}"], arrays[f"mem_{k}"], arrays[f"best_{k}"]
        st.vector[:] = arrays["state"]
        st.curve[:step], st.losses[:step] = arrays["curve"], arrays["losses"]
        self.step, self.diverged = step, meta["diverged"]
        self.broken = Broken(**meta["broken"]) if meta.get("broken") else None
        self.samples = [Sample(**x) for x in meta["samples"]]
        self.rng.bit_generator.state = meta["rng"]
        self.train_seconds, self.wall_seconds = meta["train_seconds"], meta["wall_seconds"]
        self.eval_seconds = meta["eval_seconds"]
        self.sample_seconds = meta.get("sample_seconds", 0.0)      # checkpoints before they were timed apart
        self.compile_seconds = meta.get("compile_seconds", 0.0)
        return self

    @property
    def finished(self) -> bool:
        return self.step >= self.total or self.diverged is not None or self.broken is not None

    # -- the loop ---------------------------------------------------------------
    def _sample(self, step: int) -> Sample:
        """A sample from the current hidden state and input character, with its measurements."""
        named, s = self.state.named(), self.settings
        t0 = time.perf_counter()
        text = self.corpus.decode(synthesize(named, self.state.h, int(self.data[self.state.pointer]),
                                             s.sample_len, self.rng, s.temperature, self.engine))
        share, spans = evaluate.words(text, self.vocab)
        self.sample_seconds += time.perf_counter() - t0
        sample = Sample(step, text, round(share, 4), spans)
        if len(self.heldout) > 1:
            t0 = time.perf_counter()
            nats = evaluate.heldout_loss(named, self.heldout, self.engine)
            self.eval_seconds += time.perf_counter() - t0
            sample = replace(sample, heldout_loss_per_char=nats, heldout_bits_per_char=evaluate.bits(nats))
        return sample

    def _compile(self, progress: bool) -> None:
        """Compile the numba kernels this run calls (or load them from numba's cache) before the clock starts,
        saying so in one line when it compiles: once per install, and never counted as updating."""
        if not self.engine.compiled:
            return
        from labrnn.rnn.kernels import compiling
        st = self.state
        say = (lambda line: print(line, file=sys.stderr, flush=True)) if progress else (lambda line: None)
        t0 = time.perf_counter()
        with compiling(say) as compiled:
            self.engine.train(st, self.data, self.step, 0, self.hyper)
            synthesize(st.named(), st.h, 0, 1, np.random.default_rng(0), self.settings.temperature, self.engine)
            if len(self.heldout) > 1:
                evaluate.heldout_loss(st.named(), self.heldout[:2], self.engine)
        if compiled.happened:
            self.compile_seconds += time.perf_counter() - t0

    def run(self, progress: bool = True, checkpoint=None, checkpoint_every: int = 5_000) -> Run:
        """Train to the end; Ctrl-C stops at the next chunk and returns what was reached.

        `checkpoint(trainer)`, when given, is called at every sample, every checkpoint_every steps and at the end;
        a model file's process ends before that last one: nothing it could write is read back as the run.
        """
        s, st = self.settings, self.state
        self._compile(progress)
        sample_at = [x for x in s.sample_steps(self.total) if x >= self.step]
        if self.samples and sample_at and self.samples[-1].step == sample_at[0]:
            sample_at.pop(0)
        t_start = time.perf_counter() - self.wall_seconds
        bar = progress_bar(total=self.total, initial=self.step, desc="training", unit="step",
                           enabled=progress)
        interrupted = False
        with _sigint_flag() as stop_requested:
            while True:
                due = bool(sample_at) and sample_at[0] == self.step and self.diverged is None and self.broken is None
                if self.finished and not due:
                    break
                if stop_requested():
                    interrupted = True
                    break
                pending = None
                if due:
                    pending = self._sample(sample_at.pop(0))
                    if self.step == self.total:
                        self.samples.append(replace(pending, smooth_loss=float(st.curve[self.step - 1])))
                        break
                stop = min(self.total, self.step + CHUNK, sample_at[0] if sample_at else self.total)
                if checkpoint_every:
                    stop = min(stop, (self.step // checkpoint_every + 1) * checkpoint_every)
                n = max(stop - self.step, 1)
                t0 = time.perf_counter()
                try:
                    done = self.engine.train(st, self.data, self.step, n, self.hyper)
                except StepFailed as err:
                    done, self.broken = err.step - self.step, Broken(err.step, err.message)
                self.train_seconds += time.perf_counter() - t0
                if pending is not None and done > 0:
                    self.samples.append(replace(pending, smooth_loss=float(st.curve[pending.step])))
                self.step += done
                if done < n and self.broken is None:
                    self._diverge(self.step - 1)
                bar.update(done)
                bar.set_postfix(smooth_loss=f"{st.smooth:.2f}",
                                steps_per_s=f"{self.step / max(self.train_seconds, 1e-9):,.0f}", refresh=False)
                self.wall_seconds = time.perf_counter() - t_start
                if checkpoint is not None and (pending is not None or self.finished or
                                               (checkpoint_every and self.step % checkpoint_every == 0)):
                    checkpoint(self)
        bar.close()
        self.wall_seconds = time.perf_counter() - t_start
        if self.model is not None:
            self.model.close()          # their process ends before labrnn writes what it computed
        if checkpoint is not None:
            checkpoint(self)
        return self._result(interrupted)

    def _diverge(self, step: int) -> None:
        loss, hyper = self.state.losses[step], self.hyper
        if not math.isfinite(loss):
            reason = f"the loss became {loss}"
        elif loss > hyper.ceiling:
            reason = (f"the loss, {loss:.4g}, is above {CEILING} x seq_length x ln K = {hyper.ceiling:,.0f}, "
                      "far beyond any a working model reaches")
        else:
            window = self.state.losses[step - DIVERGE_WINDOW + 1:step + 1].mean()
            reason = (f"the mean loss of the last {DIVERGE_WINDOW:,} steps, {window:.1f}, is above "
                      f"2 x seq_length x ln K = {hyper.limit:.1f}")
        self.diverged = {"step": step, "reason": reason}

    def _result(self, interrupted: bool) -> Run:
        st, s = self.state, self.settings
        best_params = {k: b.copy() for k, b in zip(NAMES, st.bests)}
        t0 = time.perf_counter()
        if math.isfinite(st.best):
            # from the hidden state and character the best step read, as the samples start from the carried state
            best_text = self.corpus.decode(synthesize(best_params, st.best_h.copy(), int(self.data[st.best_pointer]),
                                                      s.best_len, np.random.default_rng([s.seed, 1]), s.temperature,
                                                      self.engine))
        else:
            best_text = ""
        share, spans = evaluate.words(best_text, self.vocab)
        self.sample_seconds += time.perf_counter() - t0
        return Run(
            settings=s, corpus=self.corpus.info(), curve=st.curve[:self.step].copy(), samples=list(self.samples),
            best=Best(st.best_step, st.best, best_text, round(share, 4), spans, round(self.best_chance, 4)),
            best_params=best_params, steps_done=self.step,
            epochs_done=round(self.step / self.spe, 4), steps_per_epoch=self.spe,
            interrupted=interrupted, diverged=self.diverged, broken=self.broken,
            model=self.model and self.model.info(), grading=self.grader and self.grader.record,
            wall_seconds=self.wall_seconds, train_seconds=self.train_seconds, eval_seconds=round(self.eval_seconds, 3),
            sample_seconds=round(self.sample_seconds, 3), compile_seconds=round(self.compile_seconds, 3),
            train_chars=len(self.data), heldout_chars_scored=len(self.heldout),
            chance_share=round(self.chance, 4),
        )


def train(corpus: Corpus, settings: Settings, progress: bool = True, checkpoint=None,
          checkpoint_every: int = 5_000) -> Run:
    """Train from scratch; `checkpoint(trainer)` is called as `Trainer.run` says."""
    return Trainer(corpus, settings).run(progress, checkpoint, checkpoint_every)


_STOP = threading.Event()           # set by stop_every_run, never cleared: the process is ending


def stop_every_run() -> None:
    """Every run of this process, now and later, stops at its next chunk as on Ctrl-C: for a process whose runs
    train in threads that no signal reaches (a sweep's worker as it closes, `labrnn.sweeps.worker`)."""
    _STOP.set()


@contextmanager
def _sigint_flag():
    """Turn Ctrl-C (in the main thread) or `stop_every_run` into a flag the loop reads between chunks, so no
    chunk is cut in half."""
    hit = threading.Event()

    def stopped() -> bool:
        return hit.is_set() or _STOP.is_set()
    if threading.current_thread() is not threading.main_thread():
        yield stopped
        return
    previous = signal.signal(signal.SIGINT, lambda *_: hit.set())
    try:
        yield stopped
    finally:
        signal.signal(signal.SIGINT, previous)
