"""Vanilla RNN, column vectors: loss and gradients averaged over the sequence."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    W, U, V = params["W"], params["U"], params["V"]
    b, c = params["b"].reshape(-1, 1), params["c"].reshape(-1, 1)
    m, K = U.shape
    T = len(x)
    X = np.zeros((K, T))
    X[x, np.arange(T)] = 1
    Y = np.zeros((K, T))
    Y[y, np.arange(T)] = 1
    H = np.zeros((m, T + 1))
    H[:, [0]] = np.reshape(h0, (m, 1))
    P = np.zeros((K, T))
    for t in range(T):
        H[:, [t + 1]] = np.tanh(W @ H[:, [t]] + U @ X[:, [t]] + b)
        o = V @ H[:, [t + 1]] + c
        e = np.exp(o - o.max())
        P[:, [t]] = e / e.sum()
    loss = -np.mean(np.log(np.sum(Y * P, axis=0)))

    G = (P - Y) / T                       # d loss / d o_t for the mean over the sequence
    dV = G @ H[:, 1:].T
    dc = G.sum(axis=1)
    dA = np.zeros((m, T))
    for t in reversed(range(T)):
        dh = V.T @ G[:, [t]]
        if t < T - 1:
            dh += W.T @ dA[:, [t + 1]]
        dA[:, [t]] = dh * (1 - H[:, [t + 1]] ** 2)
    dW = dA @ H[:, :-1].T
    dU = dA @ X.T
    db = dA.sum(axis=1)
    return loss, {"W": dW, "U": dU, "V": dV, "b": db, "c": dc}, H[:, T].copy()
