"""AdaGrad training as the lab defines it, with periodic synthesis, the best
model kept, checkpoints to resume from, and divergence detected.

The loop advances in chunks between sample points and checkpoints; an engine
runs a chunk of updates.  "numba" (compiled, the default) and "numpy" (the
readable reference built on `labrnn.model`) compute the same numbers.
"""
from __future__ import annotations

import json
import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import evaluate
from .corpus import Corpus
from .iorw import DAMAGED, atomic_write
from .model import NAMES, init_params, loss_and_grads
from .progress import bar as progress_bar
from .sample import synthesize

CLIP = 5.0
CHUNK = 2_000                      # updates between progress-bar refreshes
DIVERGE_FROM, DIVERGE_WINDOW = 2_000, 1_000
CHECKPOINT = "checkpoint.npz"
MAX_BYTES = 4 * 2**30              # settings that would need more memory are refused up front


class ConfigError(ValueError):
    """Hyperparameters that cannot describe a run; the message names the bad one."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed; the message says why."""


@dataclass(frozen=True)
class Config:
    """Every setting that changes a run's numbers."""
    eta: float = 0.1
    seq_length: int = 25
    m: int = 100
    sigma: float = 0.01
    steps: int | None = 100_000
    epochs: int | None = None           # when given, overrides steps
    seed: int = 1
    sample_every: int = 10_000
    sample_until: int | None = None     # None: sample through the last step
    sample_len: int = 200
    best_len: int = 1_000
    temperature: float = 1.0
    keep_cr: bool = False
    holdout: float = 0.05               # share of the corpus's end kept out of training
    keep_going: bool = False            # train on past the divergence test (not past a NaN)

    def __post_init__(self):
        _positive_float("eta", self.eta)
        _positive_float("sigma", self.sigma)
        _positive_float("temperature", self.temperature)
        for name in ("seq_length", "m", "sample_every", "sample_len", "best_len"):
            _int(name, getattr(self, name), low=1)
        if self.epochs is not None:
            _int("epochs", self.epochs, low=1)
        elif self.steps is None:
            raise ConfigError("give a number of steps or of epochs")
        else:
            _int("steps", self.steps, low=1)
        if self.sample_until is not None:
            _int("sample_until", self.sample_until, low=0)
        _int("seed", self.seed, low=0)
        if not (isinstance(self.holdout, (int, float)) and 0 <= self.holdout < 0.5):
            raise ConfigError(f"holdout must be a share from 0 up to 0.5, got {self.holdout!r}")

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

    def check_corpus(self, corpus: Corpus) -> None:
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


def _int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")


def _positive_float(name, value):
    try:
        ok = math.isfinite(value) and value > 0
    except TypeError:
        ok = False
    if not ok:
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")


def adagrad_update(theta, grad, mem, eta, clip=CLIP):
    """Clip the gradient to [-clip, clip], then m += g², θ -= η g / sqrt(m + 1e-8); in place."""
    np.clip(grad, -clip, clip, out=grad)
    mem += grad * grad
    theta -= eta * grad / np.sqrt(mem + 1e-8)


def _run_steps_numpy(params, mems, bests, data, state, curve, losses, first, n, seq_length, eta, clip, limit):
    """The reference engine: the same contract as `labrnn.kernels.run_steps`."""
    named = dict(zip(NAMES, params))
    h = state[5:]
    e, epoch, smooth, best, best_step = int(state[0]), state[1], state[2], state[3], state[4]
    done = 0
    for s in range(first, first + n):
        x = data[e:e + seq_length].astype(np.int64)
        y = data[e + 1:e + seq_length + 1].astype(np.int64)
        loss, grads, h_last = loss_and_grads(named, x, y, h)
        smooth = loss if s == 0 else 0.999 * smooth + 0.001 * loss
        curve[s], losses[s] = smooth, loss
        done += 1
        if not math.isfinite(loss) or (s >= DIVERGE_FROM and losses[s - DIVERGE_WINDOW + 1:s + 1].mean() > limit):
            break
        if smooth < best:
            best, best_step = smooth, s
            for src, dst in zip(params, bests):
                dst[:] = src
        for theta, mem, name in zip(params, mems, NAMES):
            adagrad_update(theta, grads[name], mem, eta, clip)
        h[:] = h_last
        e += seq_length
        if e > len(data) - seq_length - 1:
            e, epoch = 0, epoch + 1
            h[:] = 0.0
    state[:5] = e, epoch, smooth, best, best_step
    return done


def _engine(name: str):
    if name == "numpy":
        return _run_steps_numpy
    if name == "numba":
        from .kernels import run_steps
        return run_steps
    raise ValueError(f"unknown engine {name!r} (numba or numpy)")


@dataclass
class Run:
    """A finished, interrupted or diverged training run: what run.json and run.npz hold."""
    config: Config
    corpus: dict
    curve: np.ndarray                           # smooth loss at every step (before its update)
    samples: list[dict]
    best: dict
    best_params: dict[str, np.ndarray]
    steps_done: int
    epochs_done: float
    steps_per_epoch: int
    interrupted: bool = False
    diverged: dict | None = None
    wall_seconds: float = 0.0
    train_seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def steps_per_second(self) -> float:
        return self.steps_done / self.train_seconds if self.train_seconds > 0 else 0.0

    @property
    def epoch_boundaries(self) -> list[int]:
        return list(range(self.steps_per_epoch, self.steps_done, self.steps_per_epoch))


class Trainer:
    """The whole state of a run: what a checkpoint holds, and the loop that advances it."""

    def __init__(self, corpus: Corpus, config: Config, engine: str = "numba"):
        config.check_corpus(corpus)
        self.corpus, self.config, self.engine = corpus, config, engine
        n_train = config.split(corpus.size)
        self.data = corpus.data[:n_train]
        self.heldout = corpus.data[n_train:n_train + evaluate.HELDOUT_MAX]
        self.vocab = evaluate.vocabulary(corpus.text)
        self.spe = config.steps_per_epoch(n_train)
        self.total = config.total_steps(n_train)
        self.limit = math.inf if config.keep_going else 2 * config.seq_length * math.log(corpus.K)
        self.rng = np.random.default_rng(config.seed)
        init = init_params(corpus.K, config.m, config.sigma, self.rng)
        self.params = tuple(init[k] for k in NAMES)
        self.mems = tuple(np.zeros_like(p) for p in self.params)
        self.bests = tuple(p.copy() for p in self.params)
        self.state = np.zeros(5 + config.m)
        self.state[3] = np.inf
        self.curve = np.full(self.total, np.nan)
        self.losses = np.full(self.total, np.nan)
        self.samples: list[dict] = []
        self.step = 0
        self.diverged: dict | None = None
        self.train_seconds = self.wall_seconds = self.eval_seconds = 0.0

    # -- checkpoints ----------------------------------------------------------
    def save_checkpoint(self, out: Path) -> None:
        meta = {"config": asdict(self.config), "corpus": self.corpus.info(), "engine": self.engine,
                "step": self.step, "samples": self.samples, "diverged": self.diverged,
                "rng": self.rng.bit_generator.state, "train_seconds": self.train_seconds,
                "wall_seconds": self.wall_seconds, "eval_seconds": self.eval_seconds}
        arrays = {"state": self.state, "curve": self.curve[:self.step], "losses": self.losses[:self.step],
                  "meta": np.array(json.dumps(meta))}
        for k, p, mem, best in zip(NAMES, self.params, self.mems, self.bests):
            arrays.update({f"param_{k}": p, f"mem_{k}": mem, f"best_{k}": best})
        atomic_write(out / CHECKPOINT, lambda fh: np.savez(fh, **arrays))

    @staticmethod
    def read_meta(out: Path) -> dict:
        path = Path(out) / CHECKPOINT
        if not path.exists():
            raise CheckpointError(f"no checkpoint in {out}: start the run again instead of resuming")
        try:
            with np.load(path) as npz:
                return json.loads(str(npz["meta"]))
        except DAMAGED as err:
            raise CheckpointError(f"the checkpoint in {out} is damaged ({err}): start again") from None

    @classmethod
    def resume(cls, out: Path, corpus: Corpus) -> "Trainer":
        """The trainer exactly as the checkpoint in `out` left it."""
        meta = cls.read_meta(out)
        if meta["corpus"]["sha256"] != corpus.sha256:
            raise CheckpointError(f"the corpus differs from the one the run in {out} was trained on "
                                  f"(sha256 {corpus.sha256[:12]} vs {meta['corpus']['sha256'][:12]})")
        self = cls(corpus, Config(**meta["config"]), meta["engine"])
        with np.load(Path(out) / CHECKPOINT) as npz:
            for k, p, mem, best in zip(NAMES, self.params, self.mems, self.bests):
                p[:], mem[:], best[:] = npz[f"param_{k}"], npz[f"mem_{k}"], npz[f"best_{k}"]
            self.state[:] = npz["state"]
            step = meta["step"]
            self.curve[:step], self.losses[:step] = npz["curve"], npz["losses"]
        self.step, self.samples, self.diverged = step, meta["samples"], meta["diverged"]
        self.rng.bit_generator.state = meta["rng"]
        self.train_seconds, self.wall_seconds = meta["train_seconds"], meta["wall_seconds"]
        self.eval_seconds = meta["eval_seconds"]
        return self

    @property
    def finished(self) -> bool:
        return self.step >= self.total or self.diverged is not None

    # -- the loop ---------------------------------------------------------------
    def _sample(self, step: int) -> dict:
        """A sample from the current hidden state and input character, with its measurements."""
        named = dict(zip(NAMES, self.params))
        cfg = self.config
        text = self.corpus.decode(synthesize(named, self.state[5:], int(self.data[int(self.state[0])]),
                                             cfg.sample_len, self.rng, cfg.temperature))
        share, spans = evaluate.words(text, self.vocab)
        entry = {"step": step, "text": text, "word_share": round(share, 4), "word_spans": spans}
        if len(self.heldout) > 1:
            t0 = time.perf_counter()
            nats = evaluate.heldout_loss(named, self.heldout, self.engine)
            self.eval_seconds += time.perf_counter() - t0
            entry["heldout_loss_per_char"] = nats
            entry["heldout_bits_per_char"] = evaluate.bits(nats)
        return entry

    def run(self, progress: bool = True, out: Path | None = None, checkpoint_every: int = 5_000) -> Run:
        """Train to the end; Ctrl-C stops at the next chunk and returns what was reached."""
        run_steps = _engine(self.engine)
        cfg = self.config
        sample_at = [s for s in cfg.sample_steps(self.total) if s >= self.step]
        if self.samples and sample_at and self.samples[-1]["step"] == sample_at[0]:
            sample_at.pop(0)
        t_start = time.perf_counter() - self.wall_seconds
        bar = progress_bar(total=self.total, initial=self.step, desc="training", unit="step",
                           enabled=progress)
        interrupted = False
        with _sigint_flag() as stop_requested:
            while True:
                due = bool(sample_at) and sample_at[0] == self.step and self.diverged is None
                if self.finished and not due:
                    break
                if stop_requested():
                    interrupted = True
                    break
                pending = None
                if due:
                    pending = self._sample(sample_at.pop(0))
                    if self.step == self.total:
                        pending["smooth_loss"] = float(self.curve[self.step - 1])
                        self.samples.append(pending)
                        break
                stop = min(self.total, self.step + CHUNK, sample_at[0] if sample_at else self.total)
                if checkpoint_every:
                    stop = min(stop, (self.step // checkpoint_every + 1) * checkpoint_every)
                n = max(stop - self.step, 1)
                t0 = time.perf_counter()
                done = run_steps(self.params, self.mems, self.bests, self.data, self.state, self.curve,
                                 self.losses, self.step, n, cfg.seq_length, cfg.eta, CLIP, self.limit)
                self.train_seconds += time.perf_counter() - t0
                if pending is not None:
                    pending["smooth_loss"] = float(self.curve[pending["step"]])
                    self.samples.append(pending)
                self.step += done
                if done < n:
                    self._diverge(self.step - 1)
                bar.update(done)
                bar.set_postfix(smooth_loss=f"{self.state[2]:.2f}",
                                steps_per_s=f"{self.step / max(self.train_seconds, 1e-9):,.0f}", refresh=False)
                self.wall_seconds = time.perf_counter() - t_start
                if out is not None and (pending is not None or self.finished or
                                        (checkpoint_every and self.step % checkpoint_every == 0)):
                    self.save_checkpoint(out)
        bar.close()
        self.wall_seconds = time.perf_counter() - t_start
        if out is not None:
            self.save_checkpoint(out)
        return self._result(interrupted)

    def _diverge(self, step: int) -> None:
        loss = self.losses[step]
        if not math.isfinite(loss):
            reason = f"the loss became {loss}"
        else:
            window = self.losses[step - DIVERGE_WINDOW + 1:step + 1].mean()
            reason = (f"the mean loss of the last {DIVERGE_WINDOW:,} steps, {window:.1f}, is above "
                      f"2 x seq_length x ln K = {self.limit:.1f}")
        self.diverged = {"step": step, "reason": reason}

    def _result(self, interrupted: bool) -> Run:
        best_params = {k: b.copy() for k, b in zip(NAMES, self.bests)}
        cfg = self.config
        if np.isfinite(self.state[3]):
            best_text = self.corpus.decode(synthesize(best_params, np.zeros(cfg.m), int(self.data[0]),
                                                      cfg.best_len, np.random.default_rng([cfg.seed, 1]),
                                                      cfg.temperature))
        else:
            best_text = ""
        share, spans = evaluate.words(best_text, self.vocab)
        return Run(
            config=cfg, corpus=self.corpus.info(), curve=self.curve[:self.step].copy(),
            samples=list(self.samples),
            best={"step": int(self.state[4]), "smooth_loss": float(self.state[3]), "text": best_text,
                  "word_share": round(share, 4), "word_spans": spans},
            best_params=best_params, steps_done=self.step,
            epochs_done=round(self.step / self.spe, 4), steps_per_epoch=self.spe,
            interrupted=interrupted, diverged=self.diverged, wall_seconds=self.wall_seconds,
            train_seconds=self.train_seconds,
            extra={"holdout": {"share": cfg.holdout, "train_chars": len(self.data),
                               "heldout_chars_scored": len(self.heldout)},
                   "eval_seconds": round(self.eval_seconds, 3)},
        )


def train(corpus: Corpus, config: Config, progress: bool = True, engine: str = "numba",
          out: Path | None = None, checkpoint_every: int = 5_000) -> Run:
    """Train from scratch; with `out`, checkpoints are written there as the run goes."""
    return Trainer(corpus, config, engine).run(progress, out, checkpoint_every)


@contextmanager
def _sigint_flag():
    """Turn Ctrl-C into a flag the loop reads between chunks, so no chunk is cut in half."""
    hit = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield hit.is_set
        return
    previous = signal.signal(signal.SIGINT, lambda *_: hit.set())
    try:
        yield hit.is_set
    finally:
        signal.signal(signal.SIGINT, previous)
