"""Training engines, registered by name: each runs a chunk of AdaGrad updates on a `TrainState`.

"numpy" is the readable reference, built on `labrnn.model`; "numba" runs the
same math compiled (`labrnn.kernels`, imported only when asked for).  They
agree within round-off, not bit for bit, so the engine is part of the cache key.

An engine is called as ``engine(state, data, first, n, seq_length, eta, clip, limit, ceiling)``
and returns how many losses it computed: it stops early, without updating, at a
step whose loss is not finite or above `ceiling`, or (from step DIVERGE_FROM on)
where the mean loss of the last DIVERGE_WINDOW steps is above `limit`.  The numpy
engine also takes the `loss_and_grads` to call (a student's, through
`labrnn.sandbox`); where that raises ModelError, it raises StepFailed with the
steps before it done.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import model
from .limits import DIVERGE_FROM, DIVERGE_WINDOW
from .model import NAMES
from .sandbox import ModelError

# One loss above CEILING x seq_length x ln K (uniform guessing's) is divergence at any step: it means
# p_t[y_t] < K^-100 on average, scores hundreds of nats apart. Honest runs stay below ~6x (the default run's
# worst sequence: 2.4x; sigma = 1: 5.7x); eta = 5 reaches 54x and eta = 50 359x within 2,000 steps.
CEILING = 100
ENGINES = {}


class StepFailed(Exception):
    """The model failed at `step` (its ModelError's message is kept); every step before it was done."""

    def __init__(self, step: int, message: str):
        super().__init__(message)
        self.step, self.message = step, message


def register(name: str):
    def add(engine):
        ENGINES[name] = engine
        return engine
    return add


def get(name: str):
    try:
        return ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r} ({' or '.join(ENGINES)})") from None


@dataclass
class TrainState:
    """Everything an update changes: W, U, V, b, c with their AdaGrad memories and the best copies, and the
    loop's scalars and hidden state in one float vector (the compiled engine takes arrays, not objects)."""
    params: tuple[np.ndarray, ...]          # in NAMES order
    mems: tuple[np.ndarray, ...]
    bests: tuple[np.ndarray, ...]
    vector: np.ndarray                      # [pointer e, epoch, smooth loss, best smooth loss, its step, h...]
    curve: np.ndarray                       # smooth loss of every step
    losses: np.ndarray                      # loss of every step

    @classmethod
    def start(cls, params: dict[str, np.ndarray], total: int) -> "TrainState":
        p = tuple(params[k] for k in NAMES)
        m = p[0].shape[0]
        vector = np.zeros(5 + m)
        vector[3] = np.inf
        return cls(p, tuple(np.zeros_like(x) for x in p), tuple(x.copy() for x in p), vector,
                   np.full(total, np.nan), np.full(total, np.nan))

    pointer = property(lambda self: int(self.vector[0]))
    epoch = property(lambda self: int(self.vector[1]))
    smooth = property(lambda self: float(self.vector[2]))
    best = property(lambda self: float(self.vector[3]))
    best_step = property(lambda self: int(self.vector[4]))
    h = property(lambda self: self.vector[5:])

    def named(self, which: str = "params") -> dict[str, np.ndarray]:
        return dict(zip(NAMES, getattr(self, which)))


def adagrad_update(theta, grad, mem, eta, clip):
    """Clip the gradient to [-clip, clip], then m += g², θ -= η g / sqrt(m + 1e-8); in place."""
    np.clip(grad, -clip, clip, out=grad)
    mem += grad * grad
    theta -= eta * grad / np.sqrt(mem + 1e-8)


@register("numba")
def numba_engine(state: TrainState, data, first, n, seq_length, eta, clip, limit, ceiling) -> int:
    from .kernels import run_steps
    return run_steps(state.params, state.mems, state.bests, data, state.vector, state.curve, state.losses,
                     first, n, seq_length, eta, clip, limit, ceiling)


@register("numpy")
def numpy_engine(state: TrainState, data, first, n, seq_length, eta, clip, limit, ceiling,
                 loss_and_grads=model.loss_and_grads) -> int:
    named, v, losses = state.named(), state.vector, state.losses
    h = v[5:]
    e, epoch, smooth, best, best_step = int(v[0]), v[1], v[2], v[3], v[4]
    done = 0
    for s in range(first, first + n):
        x = data[e:e + seq_length].astype(np.int64)
        y = data[e + 1:e + seq_length + 1].astype(np.int64)
        try:
            loss, grads, h_last = loss_and_grads(named, x, y, h)
        except ModelError as err:
            v[:5] = e, epoch, smooth, best, best_step
            raise StepFailed(s, str(err)) from None
        smooth = loss if s == 0 else 0.999 * smooth + 0.001 * loss
        state.curve[s], losses[s] = smooth, loss
        done += 1
        if not math.isfinite(loss) or loss > ceiling or (
                s >= DIVERGE_FROM and losses[s - DIVERGE_WINDOW + 1:s + 1].mean() > limit):
            break
        if smooth < best:
            best, best_step = smooth, s
            for src, dst in zip(state.params, state.bests):
                dst[:] = src
        for theta, mem, name in zip(state.params, state.mems, NAMES):
            adagrad_update(theta, grads[name], mem, eta, clip)
        h[:] = h_last
        e += seq_length
        if e > len(data) - seq_length - 1:
            e, epoch = 0, epoch + 1
            h[:] = 0.0
    v[:5] = e, epoch, smooth, best, best_step
    return done
