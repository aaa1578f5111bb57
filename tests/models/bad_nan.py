"""Returns NaN: the log of a probability that underflowed to zero, in the gradient of V."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    grads["V"][2, 1] = np.nan
    return 1.0, grads, np.zeros_like(h0)
