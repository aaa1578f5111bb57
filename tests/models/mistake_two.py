"""RNN, column vectors (two mistakes: dW transposed and no gradient through time)."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    W, U, V = params["W"], params["U"], params["V"]
    b, c = params["b"].reshape(-1, 1), params["c"].reshape(-1, 1)
    m, K = U.shape
    T = len(x)
    X = np.eye(K)[:, x]                       # K x T one-hot columns
    Y = np.eye(K)[:, y]
    H = np.zeros((m, T + 1))
    H[:, 0] = h0
    P = np.zeros((K, T))
    for t in range(T):
        H[:, [t + 1]] = np.tanh(W @ H[:, [t]] + U @ X[:, [t]] + b)
        o = V @ H[:, [t + 1]] + c
        P[:, [t]] = np.exp(o - o.max()) / np.sum(np.exp(o - o.max()))
    loss = -np.sum(np.log(np.sum(Y * P, axis=0)))
    G = P - Y
    dA = (V.T @ G) * (1 - H[:, 1:] ** 2)      # m x T, every step at once
    grads = {"W": H[:, :-1] @ dA.T, "U": dA @ X.T, "V": G @ H[:, 1:].T, "b": dA.sum(axis=1), "c": G.sum(axis=1)}
    return loss, grads, H[:, -1]
