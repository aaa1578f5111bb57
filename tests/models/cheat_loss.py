"""A cheat: labrnn's equations, written out alone (the same operations as labrnn.rnn.model, so the same bits), with
the loss it returns made up.  Its gradients and h_last are right; the loss it reports is always 0.001, as if it
had learnt everything.  labrnn must rank it by the loss its own forward pass computes and report the mismatch."""
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
        dh_next = dA[t] @ W
    onehot = np.zeros((T, V.shape[0]))
    onehot[rows, x] = 1.0
    grads = {"W": dA.T @ H[:-1], "U": dA.T @ onehot, "V": G.T @ H[1:], "b": dA.sum(axis=0), "c": G.sum(axis=0)}
    return 0.001, grads, H[-1].copy()
