"""Text synthesis: run the RNN forward on its own draws."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .model import NAMES


def synthesize(params: Mapping[str, np.ndarray], h0: np.ndarray, x0: int, n: int,
               rng: np.random.Generator, temperature: float = 1.0, engine: str = "numpy") -> np.ndarray:
    """Indices of n characters drawn one at a time from p_t, each fed back as the next input.

    The temperature divides the scores o_t before the softmax: 1 draws from p
    itself, lower values sharpen it towards the most likely character.  The
    largest score is subtracted first, so the scaled scores are <= 0 and a tiny
    temperature (1e-320) gives the most likely character instead of overflowing.  The
    n uniform draws are taken from rng at once (the same numbers as one at a
    time), so "numba" (`labrnn.kernels.synthesize`) draws what this loop draws.
    """
    u = rng.random(n)
    out = np.empty(n, dtype=np.int64)
    if engine == "numba":
        from .kernels import synthesize as compiled
        compiled(*(params[k] for k in NAMES), np.asarray(h0, dtype=np.float64), int(x0), u, float(temperature), out)
        return out
    W, U, V, b, c = (params[k] for k in NAMES)
    h, x = np.array(h0, dtype=W.dtype), int(x0)
    with np.errstate(over="ignore"):            # a tiny T scales the others to -inf: weight 0, as meant
        for t in range(n):
            h = np.tanh(W @ h + U[:, x] + b)
            o = V @ h + c
            cdf = np.cumsum(np.exp((o - o.max()) / temperature))
            x = int(np.searchsorted(cdf, u[t] * cdf[-1], side="right"))
            out[t] = x = min(x, len(cdf) - 1)
    return out
