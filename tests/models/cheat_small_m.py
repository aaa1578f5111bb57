"""A cheat: right only for small networks.  labrnn's equations written out alone, but when W has more than 5 rows
(any network larger than the gradient check's, grad_m = 5 by default) the gradient through time is not carried
back.  The gradient check and the comparison at grad_m pass; labrnn must find it out at the run's own m."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    W, U, V, b, c = (params[k] for k in ("W", "U", "V", "b", "c"))
    T = len(x)
    A = U.T[x] + b
    H = np.empty((T + 1, W.shape[0]))
    H[0] = h0
    for t in range(T):
        H[t + 1] = np.tanh(W @ H[t] + A[t])
    o = H[1:] @ V.T + c
    z = o - o.max(axis=-1, keepdims=True)
    logP = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    rows = np.arange(T)
    G = np.exp(logP)
    G[rows, y] -= 1.0
    dH = G @ V
    dA = np.empty_like(dH)
    dh_next = np.zeros(W.shape[0])
    for t in range(T - 1, -1, -1):
        dA[t] = (dH[t] + dh_next) * (1.0 - H[t + 1] ** 2)
        dh_next = dA[t] @ W if W.shape[0] <= 5 else 0.0
    onehot = np.zeros((T, V.shape[0]))
    onehot[rows, x] = 1.0
    grads = {"W": dA.T @ H[:-1], "U": dA.T @ onehot, "V": G.T @ H[1:], "b": dA.sum(axis=0), "c": G.sum(axis=0)}
    return float(-logP[rows, y].sum()), grads, H[-1].copy()
