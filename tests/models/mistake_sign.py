"""RNN lab: loss and gradients, one matrix product per sequence where possible (gradient of the wrong sign)."""
import numpy as np


def softmax(O):
    E = np.exp(O - O.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def loss_and_grads(params, x, y, h0):
    W, U, V, b, c = (params[name] for name in ["W", "U", "V", "b", "c"])
    T, m, K = len(x), W.shape[0], V.shape[0]
    X = np.eye(K)[x]                      # T x K one-hot rows
    Y = np.eye(K)[y]
    H = np.zeros((T + 1, m))
    H[0] = h0
    for t in range(T):
        H[t + 1] = np.tanh(W @ H[t] + U @ X[t] + b)
    P = softmax(H[1:] @ V.T + c)
    loss = -np.sum(np.log(P[np.arange(T), y]))

    dO = Y - P                            # derivative of the log-likelihood
    dV = dO.T @ H[1:]
    dc = dO.sum(axis=0)
    dHout = dO @ V
    dA = np.zeros((T, m))
    carry = np.zeros(m)
    for t in range(T - 1, -1, -1):
        dA[t] = (dHout[t] + carry) * (1 - H[t + 1] ** 2)
        carry = W.T @ dA[t]
    dW = dA.T @ H[:-1]
    dU = dA.T @ X
    db = dA.sum(axis=0)
    return loss, {"W": dW, "U": dU, "V": dV, "b": db, "c": dc}, H[T]
