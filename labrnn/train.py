"""AdaGrad training as the lab defines it, with periodic synthesis and the best model kept.

The loop advances in chunks between sample points; an engine runs a chunk of
updates.  "numba" (compiled, the default) and "numpy" (the readable
reference built on `labrnn.model`) compute the same numbers.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .corpus import Corpus
from .model import NAMES, init_params, loss_and_grads
from .sample import synthesize

CLIP = 5.0
CHUNK = 2_000          # updates between progress-bar refreshes


class ConfigError(ValueError):
    """Hyperparameters that cannot describe a run; the message names the bad one."""


@dataclass(frozen=True)
class Config:
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

    def __post_init__(self):
        _positive_float("eta", self.eta)
        _positive_float("sigma", self.sigma)
        _positive_float("temperature", self.temperature)
        for name in ("seq_length", "m", "sample_every", "sample_len", "best_len"):
            _positive_int(name, getattr(self, name))
        if self.epochs is not None:
            _positive_int("epochs", self.epochs)
        elif self.steps is None:
            raise ConfigError("give a number of steps or of epochs")
        else:
            _positive_int("steps", self.steps)
        if self.sample_until is not None:
            _int(self.sample_until, "sample_until", low=0)
        _int(self.seed, "seed", low=0)

    def steps_per_epoch(self, corpus_size: int) -> int:
        """Updates in one pass: the pointer e takes 0, L, 2L, ... while e <= N - L - 1."""
        return (corpus_size - self.seq_length - 1) // self.seq_length + 1

    def total_steps(self, corpus_size: int) -> int:
        if self.epochs is not None:
            return self.epochs * self.steps_per_epoch(corpus_size)
        return self.steps

    def sample_steps(self, total: int) -> list[int]:
        """Step 0, every sample_every steps, and the last step, all up to sample_until."""
        until = total if self.sample_until is None else min(self.sample_until, total)
        steps = list(range(0, until + 1, self.sample_every))
        if until == total and steps[-1] != total:
            steps.append(total)
        return steps

    def check_corpus(self, corpus: Corpus) -> None:
        if corpus.size < self.seq_length + 1:
            raise ConfigError(f"corpus {corpus.name!r} has {corpus.size} characters; seq_length "
                              f"{self.seq_length} needs at least {self.seq_length + 1}")


def _int(value, name, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")


def _positive_int(name, value):
    _int(value, name, low=1)


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


def _run_steps_numpy(params, mems, bests, data, state, curve, first, n, seq_length, eta, clip):
    """The reference engine: the same contract as `labrnn.kernels.run_steps`."""
    m = params[0].shape[0]
    named = dict(zip(NAMES, params))
    h = state[5:]
    e, epoch, smooth, best, best_step = int(state[0]), state[1], state[2], state[3], state[4]
    done = 0
    for s in range(first, first + n):
        x = data[e:e + seq_length].astype(np.int64)
        y = data[e + 1:e + seq_length + 1].astype(np.int64)
        loss, grads, h_last = loss_and_grads(named, x, y, h)
        smooth = loss if s == 0 else 0.999 * smooth + 0.001 * loss
        curve[s] = smooth
        if smooth < best:
            best, best_step = smooth, s
            for src, dst in zip(params, bests):
                dst[:] = src
        done += 1
        if not math.isfinite(loss):
            break
        for theta, mem, name in zip(params, mems, NAMES):
            adagrad_update(theta, grads[name], mem, eta, clip)
        h[:] = h_last
        e += seq_length
        if e > len(data) - seq_length - 1:
            e, epoch = 0, epoch + 1
            h[:] = np.zeros(m)
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
    """A finished (or interrupted) training run: what run.json and run.npz hold."""
    config: Config
    corpus: dict
    curve: np.ndarray                           # smooth loss after every update's forward pass
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

    def params_dict(self) -> dict:
        return asdict(self.config)


def train(corpus: Corpus, config: Config, progress: bool = True, engine: str = "numba") -> Run:
    """Train on the corpus; Ctrl-C stops early and returns what was reached, marked interrupted."""
    config.check_corpus(corpus)
    run_steps = _engine(engine)
    t_start = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    init = init_params(corpus.K, config.m, config.sigma, rng)
    params = tuple(init[k] for k in NAMES)
    mems = tuple(np.zeros_like(p) for p in params)
    bests = tuple(p.copy() for p in params)
    spe = config.steps_per_epoch(corpus.size)
    total = config.total_steps(corpus.size)
    sample_at = config.sample_steps(total)
    state = np.zeros(5 + config.m)
    state[3] = np.inf
    curve = np.full(total, np.nan)
    data = corpus.data
    samples: list[dict] = []
    step, train_seconds, interrupted = 0, 0.0, False
    bar = _progress(total, progress)

    def take_sample(at: int) -> str:
        idx = synthesize(dict(zip(NAMES, params)), state[5:], int(data[int(state[0])]),
                         config.sample_len, rng, config.temperature)
        return corpus.decode(idx)

    try:
        pending = None
        while step < total or (sample_at and sample_at[0] == step):
            if sample_at and sample_at[0] == step:
                sample_at.pop(0)
                pending = {"step": step, "text": take_sample(step)}
                if step == total:
                    pending["smooth_loss"] = float(curve[step - 1])
                    samples.append(pending)
                    break
            stop = min(total, step + CHUNK, sample_at[0] if sample_at else total)
            stop = max(stop, step + 1)
            t0 = time.perf_counter()
            done = run_steps(params, mems, bests, data, state, curve, step, stop - step,
                             config.seq_length, config.eta, CLIP)
            train_seconds += time.perf_counter() - t0
            if pending is not None:
                pending["smooth_loss"] = float(curve[pending["step"]])
                samples.append(pending)
                pending = None
            step += done
            bar.update(done)
            bar.set_postfix(smooth_loss=f"{state[2]:.2f}", steps_per_s=f"{step / train_seconds:,.0f}")
            if done < stop - (step - done):
                break                                     # a non-finite loss stopped the engine
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()

    best_params = dict(zip(NAMES, bests))
    best_step = int(state[4])
    best_text = corpus.decode(synthesize(best_params, np.zeros(config.m), int(data[0]),
                                         config.best_len, rng, config.temperature))
    return Run(
        config=config, corpus=corpus.info(), curve=curve[:step], samples=samples,
        best={"step": best_step, "smooth_loss": float(state[3]), "text": best_text},
        best_params={k: v.copy() for k, v in best_params.items()},
        steps_done=step, epochs_done=round(step / spe, 4), steps_per_epoch=spe,
        interrupted=interrupted, wall_seconds=time.perf_counter() - t_start,
        train_seconds=train_seconds,
    )


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm
    return tqdm(total=total, disable=not enabled, unit="step", desc="training",
                mininterval=0.5, dynamic_ncols=True)
