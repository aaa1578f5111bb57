"""Text synthesis: run the RNN forward on its own draws."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from labrnn.rnn.engines import Engine, NumpyEngine


def synthesize(params: Mapping[str, np.ndarray], h0: np.ndarray, x0: int, n: int,
               rng: np.random.Generator, temperature: float = 1.0, engine: Engine = NumpyEngine()) -> np.ndarray:
    """Indices of n characters drawn one at a time from p_t, each fed back as the next input.

    The temperature divides the scores o_t before the softmax: 1 draws from p
    itself, lower values sharpen it towards the most likely character.  The
    largest score is subtracted first, so the scaled scores are <= 0 and a tiny
    temperature (1e-320) gives the most likely character instead of overflowing.  The
    n uniform draws are taken from rng at once (the same numbers as one at a
    time), so every engine (`labrnn.rnn.engines`) draws what the numpy loop draws.
    """
    return engine.synthesize(params, h0, x0, rng.random(n), temperature)
