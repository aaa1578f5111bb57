"""RNN lab: cross-entropy in bits (np.log2); gradients of the natural-log loss."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    W, U, V, b, c = params["W"], params["U"], params["V"], params["b"], params["c"]
    K = U.shape[1]
    xs, hs, ps = {}, {-1: np.copy(h0)}, {}
    loss = 0.0
    for t in range(len(x)):
        xs[t] = np.zeros(K)
        xs[t][x[t]] = 1
        hs[t] = np.tanh(W @ hs[t - 1] + U @ xs[t] + b)
        o = V @ hs[t] + c
        ps[t] = np.exp(o - o.max()) / np.exp(o - o.max()).sum()
        loss -= np.log2(ps[t][y[t]])
    dW, dU, dV = np.zeros_like(W), np.zeros_like(U), np.zeros_like(V)
    db, dc = np.zeros_like(b), np.zeros_like(c)
    dh_next = np.zeros_like(h0)
    for t in reversed(range(len(x))):
        do = ps[t].copy()
        do[y[t]] -= 1
        dV += np.outer(do, hs[t])
        dc += do
        da = (1 - hs[t] ** 2) * (V.T @ do + dh_next)
        db += da
        dU += np.outer(da, xs[t])
        dW += np.outer(da, hs[t - 1])
        dh_next = W.T @ da
    return loss, {"W": dW, "U": dU, "V": dV, "b": db, "c": dc}, hs[len(x) - 1]
