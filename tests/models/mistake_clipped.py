"""RNN with gradient clipping done inside the backward pass."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    W, U, V, b, c = params["W"], params["U"], params["V"], params["b"], params["c"]
    T, m = len(x), len(h0)
    K = U.shape[1]
    H = np.zeros((T + 1, m))
    H[0] = h0
    P = np.zeros((T, K))
    for t in range(T):
        H[t + 1] = np.tanh(W @ H[t] + U[:, x[t]] + b)
        o = V @ H[t + 1] + c
        o = o - o.max()
        P[t] = np.exp(o) / np.exp(o).sum()
    loss = float(-np.log(P[np.arange(T), y]).sum())
    grads = {"W": np.zeros_like(W), "U": np.zeros_like(U), "V": np.zeros_like(V),
             "b": np.zeros_like(b), "c": np.zeros_like(c)}
    dh_next = np.zeros(m)
    for t in reversed(range(T)):
        do = P[t].copy()
        do[y[t]] -= 1.0
        grads["V"] += np.outer(do, H[t + 1])
        grads["c"] += do
        da = (V.T @ do + dh_next) * (1 - H[t + 1] ** 2)
        grads["W"] += np.outer(da, H[t])
        grads["U"][:, x[t]] += da
        grads["b"] += da
        dh_next = W.T @ da
    for k in grads:                           # avoid exploding gradients
        grads[k] = np.clip(grads[k], -5, 5)
    return loss, grads, H[T]
