"""Assignment 4: vanilla RNN, forward and backward pass (dW returned transposed)."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    W, U, V, b, c = params["W"], params["U"], params["V"], params["b"], params["c"]
    K = U.shape[1]
    xs, hs, ps = {}, {}, {}
    hs[-1] = np.copy(h0)
    loss = 0.0
    for t in range(len(x)):
        xs[t] = np.zeros(K)
        xs[t][x[t]] = 1
        hs[t] = np.tanh(W @ hs[t - 1] + U @ xs[t] + b)
        o = V @ hs[t] + c
        e = np.exp(o - np.max(o))
        ps[t] = e / e.sum()
        loss -= np.log(ps[t][y[t]])

    dW, dU, dV = np.zeros_like(W), np.zeros_like(U), np.zeros_like(V)
    db, dc = np.zeros_like(b), np.zeros_like(c)
    dh_next = np.zeros_like(h0)
    for t in reversed(range(len(x))):
        do = np.copy(ps[t])
        do[y[t]] -= 1
        dV += np.outer(do, hs[t])
        dc += do
        dh = V.T @ do + dh_next
        da = (1 - hs[t] ** 2) * dh
        db += da
        dU += np.outer(da, xs[t])
        dW += np.outer(hs[t - 1], da)
        dh_next = W.T @ da
    return loss, {"W": dW, "U": dU, "V": dV, "b": db, "c": dc}, hs[len(x) - 1]
