"""A cheat: right only at the start.  labrnn's equations written out alone, until its 100th call; from then on the
gradient through time is not carried back.  Every check made before training (the gradient check's calls, the
comparisons at grad_m and at the run's m) comes within the first 100 calls on a small corpus; labrnn must find it
out at the training steps it checks."""
import numpy as np


calls = 0


def loss_and_grads(params, x, y, h0):
    global calls
    calls += 1
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
        dh_next = dA[t] @ W if calls <= 100 else 0.0
    onehot = np.zeros((T, V.shape[0]))
    onehot[rows, x] = 1.0
    grads = {"W": dA.T @ H[:-1], "U": dA.T @ onehot, "V": G.T @ H[1:], "b": dA.sum(axis=0), "c": G.sum(axis=0)}
    return float(-logP[rows, y].sum()), grads, H[-1].copy()
