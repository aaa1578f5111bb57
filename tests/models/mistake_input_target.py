"""Character RNN; the loss looks up the probability of the current character x[t]."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    W, U, V, b, c = params["W"], params["U"], params["V"], params["b"], params["c"]
    K = U.shape[1]
    hs, ps = {-1: np.array(h0, dtype=float)}, {}
    loss = 0.0
    for t in range(len(x)):
        hs[t] = np.tanh(W @ hs[t - 1] + U[:, x[t]] + b)
        o = V @ hs[t] + c
        e = np.exp(o - o.max())
        ps[t] = e / e.sum()
        loss += -np.log(ps[t][x[t]])
    dW, dU, dV = np.zeros_like(W), np.zeros_like(U), np.zeros_like(V)
    db, dc = np.zeros_like(b), np.zeros_like(c)
    dh_next = np.zeros(W.shape[0])
    for t in reversed(range(len(x))):
        do = ps[t].copy()
        do[y[t]] -= 1
        dV += np.outer(do, hs[t])
        dc += do
        da = (V.T @ do + dh_next) * (1 - hs[t] ** 2)
        db += da
        dU[:, x[t]] += da
        dW += np.outer(da, hs[t - 1])
        dh_next = W.T @ da
    return loss, {"W": dW, "U": dU, "V": dV, "b": db, "c": dc}, hs[len(x) - 1]
