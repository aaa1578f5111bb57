"""The vanilla RNN of the lab, in its own notation.

    a_t = W h_{t-1} + U x_t + b,   h_t = tanh(a_t),
    o_t = V h_t + c,               p_t = softmax(o_t),
    loss = sum_t -log p_t[y_t].

Only the recurrence itself (W h_{t-1} forward, W^T da_t backward) has to run
step by step; every other product is done for the whole sequence at once as
one matrix product, which is where the speed over the classic per-step
formulation comes from.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

NAMES = ("W", "U", "V", "b", "c")


def init_params(K: int, m: int, sigma: float = 0.01,
                rng: np.random.Generator | None = None, dtype=np.float64) -> dict[str, np.ndarray]:
    """U, W, V ~ N(0, sigma^2); b, c = 0 (the lab's initialization)."""
    rng = np.random.default_rng(rng)
    return {
        "W": (sigma * rng.standard_normal((m, m))).astype(dtype),
        "U": (sigma * rng.standard_normal((m, K))).astype(dtype),
        "V": (sigma * rng.standard_normal((K, m))).astype(dtype),
        "b": np.zeros(m, dtype),
        "c": np.zeros(K, dtype),
    }


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


def loss(params: Mapping[str, np.ndarray], x, y, h0) -> float:
    """Cross-entropy of the targets y after reading x from h0."""
    _, logP = forward(params, np.asarray(x), h0)
    return float(-logP[np.arange(len(y)), y].sum())


def loss_and_grads(params: Mapping[str, np.ndarray], x, y, h0):
    """(loss, gradients keyed like params, last hidden state) for one sequence."""
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("x and y must be 1-d index arrays of one length")
    return backward(params, x, y, h0)


def backward(params: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray, h0, *, carry=True, derivative="h_t",
             use_h0=True, target="y", score="softmax", subtract_onehot=True):
    """loss_and_grads with the lab's documented mistakes as switches (labrnn.student.diagnose's variants, one record
    each there); at the defaults it is the lab's, so the diagnosis compares against this very computation.

    carry=False drops dh_next; derivative "h_prev" or "none" takes tanh' at h_{t-1} or not at all; use_h0=False
    starts from zeros; target "x" scores the input; score "raw" takes the loss of the raw scores (loss only);
    subtract_onehot=False takes do_t = p_t.
    """
    W, V = params["W"], params["V"]
    T = len(x)
    H, logP = forward(params, x, h0 if use_h0 else np.zeros_like(h0))
    rows, scored = np.arange(T), (y if target == "y" else x)
    loss = float(-(logP if score == "softmax" else H[1:] @ V.T + params["c"])[rows, scored].sum())

    G = np.exp(logP)                     # dL/do_t = p_t - onehot(y_t)
    if subtract_onehot:
        G[rows, scored] -= 1.0
    dH = G @ V                           # the outputs' share of dL/dh_t
    tanh_prime = {"h_t": 1.0 - H[1:] ** 2, "h_prev": 1.0 - H[:-1] ** 2, "none": np.ones_like(dH)}[derivative]
    dA = np.empty_like(dH)
    dh_next = np.zeros(W.shape[0], dtype=W.dtype)
    for t in range(T - 1, -1, -1):
        dA[t] = (dH[t] + dh_next) * tanh_prime[t]
        dh_next = dA[t] @ W if carry else 0.0
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
