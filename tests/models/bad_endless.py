"""An endless loop at import: training code of its own that never ends."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    return 1.0, {k: np.zeros_like(v) for k, v in params.items()}, np.zeros_like(h0)


step = 0
while True:
    step += 1
