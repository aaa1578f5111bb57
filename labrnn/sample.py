"""Text synthesis: run the RNN forward on its own draws."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def synthesize(params: Mapping[str, np.ndarray], h0: np.ndarray, x0: int, n: int,
               rng: np.random.Generator, temperature: float = 1.0) -> np.ndarray:
    """Indices of n characters drawn one at a time from p_t, each fed back as the next input.

    The temperature divides the scores o_t before the softmax: 1 draws from p
    itself, lower values sharpen it towards the most likely character.
    """
    W, U, V, b, c = (params[k] for k in ("W", "U", "V", "b", "c"))
    h, x = np.array(h0, dtype=W.dtype), int(x0)
    out = np.empty(n, dtype=np.int64)
    for t in range(n):
        h = np.tanh(W @ h + U[:, x] + b)
        o = (V @ h + c) / temperature
        cdf = np.cumsum(np.exp(o - o.max()))
        x = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
        out[t] = x = min(x, len(cdf) - 1)
    return out
