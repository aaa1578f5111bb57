"""Does not import: a module that is not installed (the message names this file and line 4)."""
import numpy as np

import numpy_but_faster  # noqa: F401


def loss_and_grads(params, x, y, h0):
    return 0.0, {k: np.zeros_like(v) for k, v in params.items()}, np.zeros_like(h0)
