"""Engines, registered by name and chosen once per run: each trains a chunk of AdaGrad updates on a
`TrainState`, synthesizes characters and scores a sequence, behind the one small interface `Engine`.

"numpy" is the readable reference, built on `labrnn.rnn.model`; "numba" is a thin face over the same math compiled
(`labrnn.rnn.kernels`, imported only when asked for).  They agree within round-off, not bit for bit, so the engine
is part of the cache key.  What a chunk of updates needs beyond the state and the data is one value,
`Hyperparameters`.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from labrnn.rnn import model
from labrnn.rnn.limits import DIVERGE_FROM, DIVERGE_WINDOW
from labrnn.rnn.model import NAMES

# One loss above CEILING x seq_length x ln K (uniform guessing's) is divergence at any step: it means
# p_t[y_t] < K^-100 on average, scores hundreds of nats apart. Honest runs stay below ~6x (the default run's
# worst sequence: 2.4x; sigma = 1: 5.7x); eta = 5 reaches 54x and eta = 50 359x within 2,000 steps.
CEILING = 100
ENGINES: dict[str, type[Engine]] = {}


@dataclass(frozen=True)
class Hyperparameters:
    """What every update of a run uses: seq_length, AdaGrad's eta and clip, and where the run is called
    diverged: a loss above `ceiling` at any step, or (from step DIVERGE_FROM on) a mean loss of the last
    DIVERGE_WINDOW steps above `limit`; both infinite, it trains on (a NaN still stops it)."""
    seq_length: int
    eta: float
    clip: float
    limit: float = math.inf
    ceiling: float = math.inf

    @classmethod
    def of(cls, settings, K: int) -> "Hyperparameters":
        """A run's: the limits are 2 and CEILING times the loss of guessing uniformly, unless keep_going."""
        uniform, on = settings.seq_length * math.log(K), settings.keep_going     # uniform: guessing's loss
        return cls(settings.seq_length, settings.eta, settings.clip,
                   math.inf if on else 2 * uniform, math.inf if on else CEILING * uniform)


class ModelFailed(Exception):
    """The loss_and_grads an engine trains with failed: a student's, whose sandbox raises this as
    `labrnn.student.sandbox.ModelError`, naming their file and line."""


class StepFailed(Exception):
    """The model failed at `step` (its ModelError's message is kept); every step before it was done."""

    def __init__(self, step: int, message: str):
        super().__init__(message)
        self.step, self.message = step, message


def register(name: str):
    """Register an Engine class under `name` (papermill's engines are registered the same way)."""
    def add(cls):
        cls.name = name
        ENGINES[name] = cls
        return cls
    return add


def get(name: str) -> Engine:
    """The engine of that name: a run chooses it once, from its settings, and passes it on."""
    try:
        return ENGINES[name]()
    except KeyError:
        raise ValueError(f"unknown engine {name!r} ({' or '.join(ENGINES)})") from None


@dataclass
class TrainState:
    """Everything an update changes: W, U, V, b, c with their AdaGrad memories and the best copies, and the
    loop's scalars and hidden state in one float vector (the compiled engine takes arrays, not objects)."""
    params: tuple[np.ndarray, ...]          # in NAMES order
    mems: tuple[np.ndarray, ...]
    bests: tuple[np.ndarray, ...]
    # [pointer e, epoch, smooth loss, best smooth loss, its step, its pointer, h (m), h at the best step (m)]
    vector: np.ndarray
    curve: np.ndarray                       # smooth loss of every step
    losses: np.ndarray                      # loss of every step

    @classmethod
    def start(cls, params: dict[str, np.ndarray], total: int) -> "TrainState":
        p = tuple(params[k] for k in NAMES)
        m = p[0].shape[0]
        vector = np.zeros(6 + 2 * m)
        vector[3] = np.inf
        return cls(p, tuple(np.zeros_like(x) for x in p), tuple(x.copy() for x in p), vector,
                   np.full(total, np.nan), np.full(total, np.nan))

    pointer = property(lambda self: int(self.vector[0]))
    epoch = property(lambda self: int(self.vector[1]))
    smooth = property(lambda self: float(self.vector[2]))
    best = property(lambda self: float(self.vector[3]))
    best_step = property(lambda self: int(self.vector[4]))
    best_pointer = property(lambda self: int(self.vector[5]))
    h = property(lambda self: self.vector[6:6 + self.params[0].shape[0]])
    best_h = property(lambda self: self.vector[6 + self.params[0].shape[0]:])   # the state the best step read

    def named(self, which: str = "params") -> dict[str, np.ndarray]:
        return dict(zip(NAMES, getattr(self, which)))


def adagrad_update(theta, grad, mem, eta, clip):
    """Clip the gradient to [-clip, clip], then m += g², θ -= η g / sqrt(m + 1e-8); in place."""
    np.clip(grad, -clip, clip, out=grad)
    mem += grad * grad
    theta -= eta * grad / np.sqrt(mem + 1e-8)


class Engine(ABC):
    """The one interface of an engine. `compiled`: its first calls compile (numba), which a run does before
    its clock starts."""
    name: str
    compiled = False

    @abstractmethod
    def train(self, state: TrainState, data: np.ndarray, first: int, n: int, hyper: Hyperparameters) -> int:
        """Run updates first .. first + n - 1 on state; return how many losses it computed. It stops early,
        without updating, at a step whose loss is not finite or beyond hyper's limits (see Hyperparameters)."""

    @abstractmethod
    def synthesize(self, params: Mapping[str, np.ndarray], h0: np.ndarray, x0: int, u: np.ndarray,
                   temperature: float) -> np.ndarray:
        """len(u) character indices: out[t] is the first whose cumulative weight exceeds u[t] x the total,
        each fed back as the next input (`labrnn.rnn.sample.synthesize` says why so)."""

    @abstractmethod
    def score(self, params: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
        """Summed loss of predicting y from x in one pass from h = 0 (forward only)."""


@register("numba")
class NumbaEngine(Engine):
    """`labrnn.rnn.kernels`, on a TrainState's arrays."""
    compiled = True

    def train(self, state, data, first, n, hyper):
        from labrnn.rnn.kernels import run_steps
        return run_steps(state.params, state.mems, state.bests, data, state.vector, state.curve, state.losses,
                         first, n, hyper.seq_length, hyper.eta, hyper.clip, hyper.limit, hyper.ceiling)

    def synthesize(self, params, h0, x0, u, temperature):
        from labrnn.rnn.kernels import synthesize
        out = np.empty(len(u), dtype=np.int64)
        synthesize(*(params[k] for k in NAMES), np.asarray(h0, dtype=np.float64), int(x0), u, float(temperature),
                   out)
        return out

    def score(self, params, x, y):
        from labrnn.rnn.kernels import sequence_loss
        return sequence_loss(*(params[k] for k in NAMES), x, y)


@register("numpy")
@dataclass(frozen=True)
class NumpyEngine(Engine):
    """The readable reference. `loss_and_grads` is the function it trains with (a student's, through
    `labrnn.student.sandbox` and `labrnn.student.grading`); where that raises ModelFailed, `train` raises StepFailed
    with the steps before it done."""
    loss_and_grads: Callable = model.loss_and_grads

    # A deliberate pair with kernels.run_steps (the same loop compiled): change both or neither.
    def train(self, state, data, first, n, hyper):
        named, v, losses = state.named(), state.vector, state.losses
        h, best_h = state.h, state.best_h
        e, epoch, smooth, best, best_step, best_e = int(v[0]), v[1], v[2], v[3], v[4], v[5]
        done = 0
        for s in range(first, first + n):
            x = data[e:e + hyper.seq_length].astype(np.int64)
            y = data[e + 1:e + hyper.seq_length + 1].astype(np.int64)
            try:
                loss, grads, h_last = self.loss_and_grads(named, x, y, h)
            except ModelFailed as err:
                v[:6] = e, epoch, smooth, best, best_step, best_e
                raise StepFailed(s, str(err)) from None
            smooth = loss if s == 0 else 0.999 * smooth + 0.001 * loss
            state.curve[s], losses[s] = smooth, loss
            done += 1
            if not math.isfinite(loss) or loss > hyper.ceiling or (
                    s >= DIVERGE_FROM and losses[s - DIVERGE_WINDOW + 1:s + 1].mean() > hyper.limit):
                break
            if smooth < best:
                best, best_step, best_e = smooth, s, e
                best_h[:] = h
                for src, dst in zip(state.params, state.bests):
                    dst[:] = src
            for theta, mem, name in zip(state.params, state.mems, NAMES):
                adagrad_update(theta, grads[name], mem, hyper.eta, hyper.clip)
            h[:] = h_last
            e += hyper.seq_length
            if e > len(data) - hyper.seq_length - 1:
                e, epoch = 0, epoch + 1
                h[:] = 0.0
        v[:6] = e, epoch, smooth, best, best_step, best_e
        return done

    # A deliberate pair with kernels.synthesize (the same draws compiled): change both or neither.
    def synthesize(self, params, h0, x0, u, temperature):
        W, U, V, b, c = (params[k] for k in NAMES)
        h, x = np.array(h0, dtype=W.dtype), int(x0)
        out = np.empty(len(u), dtype=np.int64)
        with np.errstate(over="ignore"):            # a tiny T scales the others to -inf: weight 0, as meant
            for t in range(len(u)):
                h = np.tanh(W @ h + U[:, x] + b)
                o = V @ h + c
                cdf = np.cumsum(np.exp((o - o.max()) / temperature))
                x = int(np.searchsorted(cdf, u[t] * cdf[-1], side="right"))
                out[t] = x = min(x, len(cdf) - 1)
        return out

    # A deliberate pair with kernels.sequence_loss (the same forward pass compiled): change both or neither.
    def score(self, params, x, y):
        return model.loss(params, x, y, np.zeros(params["W"].shape[0]))
