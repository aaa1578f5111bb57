"""The classic per-step formulation (one one-hot vector and one matrix-vector
product per term per time step), as the minimal numpy scripts of the course
write it.  Kept only as a yardstick: tests check `labrnn.model` against it and
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
