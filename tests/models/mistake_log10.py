"""Vectorized RNN; the loss is taken with np.log10, and its gradients consistently so."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    W, U, V, b, c = (params[k] for k in "WUVbc")
    T, m = len(x), W.shape[0]
    H = np.vstack([h0, np.zeros((T, m))])
    for t in range(T):
        H[t + 1] = np.tanh(W @ H[t] + U[:, x[t]] + b)
    O = H[1:] @ V.T + c
    P = np.exp(O - O.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    loss = -np.sum(np.log10(P[np.arange(T), y]))
    G = P.copy()
    G[np.arange(T), y] -= 1
    G /= np.log(10)                          # d log10(p) = d ln(p) / ln 10
    dA = np.zeros((T, m))
    back = np.zeros(m)
    for t in reversed(range(T)):
        dA[t] = (G[t] @ V + back) * (1 - H[t + 1] ** 2)
        back = W.T @ dA[t]
    dU = np.zeros_like(U)
    for t in range(T):
        dU[:, x[t]] += dA[t]
    return loss, {"W": dA.T @ H[:-1], "U": dU, "V": G.T @ H[1:], "b": dA.sum(0), "c": G.sum(0)}, H[T]
