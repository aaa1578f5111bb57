"""RNN lab, one sequence at a time (the output gradient is p_t: the one-hot target is never subtracted)."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    W, U, V, b, c = (params[k] for k in ("W", "U", "V", "b", "c"))
    T, m = len(x), W.shape[0]
    H = np.zeros((T + 1, m))
    H[0] = h0
    P = np.zeros((T, V.shape[0]))
    for t in range(T):
        H[t + 1] = np.tanh(W @ H[t] + U[:, x[t]] + b)
        o = V @ H[t + 1] + c
        e = np.exp(o - o.max())
        P[t] = e / e.sum()
    loss = -np.log(P[np.arange(T), y]).sum()

    dO = P.copy()                         # should be P minus the one-hot rows of y
    dV, dc = dO.T @ H[1:], dO.sum(axis=0)
    dW, dU, db = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b)
    dh_next = np.zeros(m)
    for t in reversed(range(T)):
        da = (V.T @ dO[t] + dh_next) * (1 - H[t + 1] ** 2)
        dW += np.outer(da, H[t])
        dU[:, x[t]] += da
        db += da
        dh_next = W.T @ da
    return loss, {"W": dW, "U": dU, "V": dV, "b": db, "c": dc}, H[T]
