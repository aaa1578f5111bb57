"""Vanilla RNN for the lab (back-propagation: each step's output only)."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    W, U, V, b, c = params["W"], params["U"], params["V"], params["b"], params["c"]
    K = U.shape[1]
    xs, hs, ps = {}, {}, {}
    hs[-1] = np.copy(h0)
    loss = 0
    for t in range(len(x)):
        xs[t] = np.zeros(K)
        xs[t][x[t]] = 1
        hs[t] = np.tanh(W @ hs[t - 1] + U @ xs[t] + b)
        o = V @ hs[t] + c
        ps[t] = np.exp(o - o.max()) / np.sum(np.exp(o - o.max()))
        loss += -np.log(ps[t][y[t]])
    dW, dU, dV = np.zeros_like(W), np.zeros_like(U), np.zeros_like(V)
    db, dc = np.zeros_like(b), np.zeros_like(c)
    for t in reversed(range(len(x))):
        do = np.copy(ps[t])
        do[y[t]] -= 1
        dV += np.outer(do, hs[t])
        dc += do
        dh = V.T @ do
        da = (1 - hs[t] ** 2) * dh
        db += da
        dU += np.outer(da, xs[t])
        dW += np.outer(da, hs[t - 1])
    return loss, {"W": dW, "U": dU, "V": dV, "b": db, "c": dc}, hs[len(x) - 1]
