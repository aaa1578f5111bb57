"""RNN; the loss adds up the scores o_t of the targets (no softmax in the loss)."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    W, U, V, b, c = params["W"], params["U"], params["V"], params["b"], params["c"]
    T, m = len(x), W.shape[0]
    H = np.zeros((T + 1, m))
    H[0] = h0
    for t in range(T):
        H[t + 1] = np.tanh(W @ H[t] + U[:, x[t]] + b)
    O = H[1:] @ V.T + c
    loss = -O[np.arange(T), y].sum()
    P = np.exp(O - O.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    G = P
    G[np.arange(T), y] -= 1
    dA = np.zeros((T, m))
    dh_next = np.zeros(m)
    for t in range(T - 1, -1, -1):
        dA[t] = (V.T @ G[t] + dh_next) * (1 - H[t + 1] ** 2)
        dh_next = W.T @ dA[t]
    onehot = np.zeros((T, U.shape[1]))
    onehot[np.arange(T), x] = 1
    return loss, {"W": dA.T @ H[:-1], "U": dA.T @ onehot, "V": G.T @ H[1:], "b": dA.sum(0), "c": G.sum(0)}, H[T]
