"""Raises: a helper indexes past the end of the sequence (the traceback shows lines 11 and 6)."""
import numpy as np


def one_hot(x, K):
    return np.eye(K)[:, x[len(x)]]


def loss_and_grads(params, x, y, h0):
    K = params["U"].shape[1]
    X = one_hot(x, K)
    return float(X.sum()), {k: np.zeros_like(v) for k, v in params.items()}, np.zeros_like(h0)
