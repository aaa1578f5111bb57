"""RNN, column-vector notation of the lecture notes (tanh derivative left out)."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    W, U, V = params["W"], params["U"], params["V"]
    b, c = params["b"][:, None], params["c"][:, None]
    m, K = U.shape
    T = len(x)
    X = np.zeros((K, T))
    X[x, range(T)] = 1
    Y = np.zeros((K, T))
    Y[y, range(T)] = 1
    H = np.zeros((m, T + 1))
    H[:, 0] = h0
    P = np.zeros((K, T))
    for t in range(T):
        H[:, t + 1:t + 2] = np.tanh(W @ H[:, t:t + 1] + U @ X[:, t:t + 1] + b)
        o = V @ H[:, t + 1:t + 2] + c
        P[:, t:t + 1] = np.exp(o - o.max()) / np.exp(o - o.max()).sum()
    loss = -np.log((Y * P).sum(axis=0)).sum()
    G = P - Y
    dV = G @ H[:, 1:].T
    dc = G.sum(axis=1)
    dA = np.zeros((m, T))
    dh_next = np.zeros((m, 1))
    for t in reversed(range(T)):
        dh = V.T @ G[:, t:t + 1] + dh_next
        dA[:, t:t + 1] = dh
        dh_next = W.T @ dA[:, t:t + 1]
    return loss, {"W": dA @ H[:, :-1].T, "U": dA @ X.T, "V": dV, "b": dA.sum(axis=1), "c": dc}, H[:, -1]
