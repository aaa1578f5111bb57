"""The classic per-step formulation (one one-hot vector and one matrix-vector
product per term per time step), as the minimal numpy scripts of the course
write it.  Kept only as a yardstick: tests check `labrnn.rnn.model` against it and
`make bench` times both side by side.
"""
from __future__ import annotations

import numpy as np


def loss_and_grads(params, x, y, h0):
    W, U, V, b, c = (params[k] for k in ("W", "U", "V", "b", "c"))
    K = U.shape[1]
    xs, hs, ps = {}, {-1: np.copy(h0)}, {}
    loss = 0.0
    for t in range(len(x)):
        xs[t] = np.zeros(K)
        xs[t][x[t]] = 1.0
        hs[t] = np.tanh(W @ hs[t - 1] + U @ xs[t] + b)
        o = V @ hs[t] + c
        e = np.exp(o - np.max(o))
        ps[t] = e / np.sum(e)
        loss += -np.log(ps[t][y[t]])
    dW, dU, dV = np.zeros_like(W), np.zeros_like(U), np.zeros_like(V)
    db, dc = np.zeros_like(b), np.zeros_like(c)
    dh_next = np.zeros_like(h0)
    for t in reversed(range(len(x))):
        do = np.copy(ps[t])
        do[y[t]] -= 1.0
        dV += np.outer(do, hs[t])
        dc += do
        dh = V.T @ do + dh_next
        da = (1.0 - hs[t] ** 2) * dh
        db += da
        dU += np.outer(da, xs[t])
        dW += np.outer(da, hs[t - 1])
        dh_next = W.T @ da
    return loss, {"W": dW, "U": dU, "V": dV, "b": db, "c": dc}, hs[len(x) - 1]


def train_steps(params, data, n, seq_length=25, eta=0.1):
    """n AdaGrad updates the classic way; returns the last smooth loss."""
    mems = {k: np.zeros_like(v) for k, v in params.items()}
    h = np.zeros(params["W"].shape[0])
    e, smooth = 0, None
    for _ in range(n):
        if e + seq_length + 1 > len(data):
            e, h = 0, np.zeros_like(h)
        x, y = data[e:e + seq_length], data[e + 1:e + seq_length + 1]
        loss, grads, h = loss_and_grads(params, x, y, h)
        smooth = loss if smooth is None else 0.999 * smooth + 0.001 * loss
        for k in params:
            np.clip(grads[k], -5, 5, out=grads[k])
            mems[k] += grads[k] * grads[k]
            params[k] += -eta * grads[k] / np.sqrt(mems[k] + 1e-8)
        e += seq_length
    return smooth
