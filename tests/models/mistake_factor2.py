"""Character RNN: gradient of the output taken as for a squared error (2 (p - y))."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    W, U, V, b, c = params["W"], params["U"], params["V"], params["b"], params["c"]
    K = U.shape[1]
    xs, hs, ps = {}, {-1: np.copy(h0)}, {}
    loss = 0.0
    for t in range(len(x)):
        xs[t] = np.zeros(K)
        xs[t][x[t]] = 1
        hs[t] = np.tanh(np.dot(W, hs[t - 1]) + np.dot(U, xs[t]) + b)
        o = np.dot(V, hs[t]) + c
        ps[t] = np.exp(o - np.max(o)) / np.sum(np.exp(o - np.max(o)))
        loss += -np.log(ps[t][y[t]])
    dW, dU, dV = np.zeros_like(W), np.zeros_like(U), np.zeros_like(V)
    db, dc = np.zeros_like(b), np.zeros_like(c)
    dh_next = np.zeros_like(h0)
    for t in reversed(range(len(x))):
        target = np.zeros(K)
        target[y[t]] = 1
        do = 2 * (ps[t] - target)
        dV += np.outer(do, hs[t])
        dc += do
        dh = np.dot(V.T, do) + dh_next
        da = (1 - hs[t] * hs[t]) * dh
        db += da
        dU += np.outer(da, xs[t])
        dW += np.outer(da, hs[t - 1])
        dh_next = np.dot(W.T, da)
    return loss, {"W": dW, "U": dU, "V": dV, "b": db, "c": dc}, hs[len(x) - 1]
