"""Lacks the function: the name is misspelled."""
import numpy as np


def loss_and_gradients(params, x, y, h0):
    return 0.0, {k: np.zeros_like(v) for k, v in params.items()}, np.zeros_like(h0)
