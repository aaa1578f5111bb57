"""A transposed non-square gradient: dU returned as (K, m), the shape of U.T."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    grads["U"] = grads["U"].T
    return 1.0, grads, np.zeros_like(h0)
