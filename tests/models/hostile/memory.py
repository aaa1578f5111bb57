"""A 6 GB allocation that never touches its pages: it once passed as "correct"."""
import numpy as np

T = {}


def loss_and_grads(params, x, y, h0):
    waste = np.zeros(6 * 10**9 // 8)
    return float(waste[0]), {k: np.zeros_like(v) for k, v in params.items()}, h0
