"""Breaks during training: correct (labrnn's own function) until training step 40, then NaN.  Every call before
training (the check of the file, the gradient check, the comparisons with the reference) reads the corpus's first
characters, as step 0 does; step s reads the s-th piece after them.  So only calls on other input count: steps 1
to 39 are the first 39 of them, and step 40 returns NaN, whatever checks came before."""

# labrnn_loss_and_grads: labrnn.rnn.model's, copied at the end of this file

first, calls = None, 0


def loss_and_grads(params, x, y, h0):
    global first, calls
    loss, grads, h_last = labrnn_loss_and_grads(params, x, y, h0)
    first = list(x) if first is None else first
    if list(x) != first:
        calls += 1
        if calls >= 40:
            loss = float("nan")
    return loss, grads, h_last


# -- labrnn_loss_and_grads: a standalone copy of labrnn.rnn.model's (as in tests/models/reference_rnn.py) --
from collections.abc import Mapping  # noqa: E402

import numpy as np  # noqa: E402

NAMES = ("W", "U", "V", "b", "c")


def log_softmax(o: np.ndarray) -> np.ndarray:
    """Row-wise log p, shifted by the maximum: finite even for scores in the thousands."""
    z = o - o.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def forward(params: Mapping[str, np.ndarray], x: np.ndarray, h0: np.ndarray):
    """Hidden states H (T+1 x m, H[0] = h0) and log-probabilities (T x K) for inputs x."""
    W, U, V, b, c = (params[k] for k in NAMES)
    T = len(x)
    A = U.T[x] + b                       # U x_t + b for every t at once
    H = np.empty((T + 1, W.shape[0]), dtype=W.dtype)
    H[0] = h0
    for t in range(T):
        H[t + 1] = np.tanh(W @ H[t] + A[t])
    return H, log_softmax(H[1:] @ V.T + c)


def labrnn_loss_and_grads(params: Mapping[str, np.ndarray], x, y, h0):
    """(loss, gradients keyed like params, last hidden state) for one sequence."""
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("x and y must be 1-d index arrays of one length")
    W, V = params["W"], params["V"]
    T = len(x)
    H, logP = forward(params, x, h0)
    rows = np.arange(T)
    loss = float(-logP[rows, y].sum())

    G = np.exp(logP)                     # dL/do_t = p_t - onehot(y_t)
    G[rows, y] -= 1.0
    dH = G @ V                           # the outputs' share of dL/dh_t
    dA = np.empty_like(dH)
    dh_next = np.zeros(W.shape[0], dtype=W.dtype)
    for t in range(T - 1, -1, -1):
        dA[t] = (dH[t] + dh_next) * (1.0 - H[t + 1] ** 2)
        dh_next = dA[t] @ W
    onehot = np.zeros((T, V.shape[0]), dtype=W.dtype)
    onehot[rows, x] = 1.0
    grads = {
        "W": dA.T @ H[:-1],
        "U": dA.T @ onehot,
        "V": G.T @ H[1:],
        "b": dA.sum(axis=0),
        "c": G.sum(axis=0),
    }
    return loss, grads, H[-1].copy()
