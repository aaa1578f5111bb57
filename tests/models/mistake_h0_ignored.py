"""RNN loss and gradients (every sequence starts from a zero state)."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    W, U, V, b, c = params["W"], params["U"], params["V"], params["b"], params["c"]
    T, m = len(x), W.shape[0]
    H = np.zeros((T + 1, m))                  # H[0] is the initial state
    for t in range(T):
        H[t + 1] = np.tanh(W @ H[t] + U[:, x[t]] + b)
    O = H[1:] @ V.T + c
    O -= O.max(axis=1, keepdims=True)
    P = np.exp(O) / np.exp(O).sum(axis=1, keepdims=True)
    loss = -np.log(P[np.arange(T), y]).sum()
    G = P.copy()
    G[np.arange(T), y] -= 1
    dA = np.zeros((T, m))
    nxt = np.zeros(m)
    for t in range(T - 1, -1, -1):
        dA[t] = (G[t] @ V + nxt) * (1 - H[t + 1] ** 2)
        nxt = dA[t] @ W
    dU = np.zeros_like(U)
    np.add.at(dU.T, x, dA)
    return loss, {"W": dA.T @ H[:-1], "U": dU, "V": G.T @ H[1:], "b": dA.sum(0), "c": G.sum(0)}, H[-1]
