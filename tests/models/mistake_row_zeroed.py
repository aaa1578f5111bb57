"""RNN with the weight gradients written out as loops over their entries (the loop over dW's rows starts at 1)."""
import math

import numpy as np


def loss_and_grads(params, x, y, h0):
    W, U, V, b, c = params["W"], params["U"], params["V"], params["b"], params["c"]
    m, K = U.shape
    T = len(x)
    h = [list(map(float, h0))]
    p = []
    loss = 0.0
    for t in range(T):
        a = [sum(W[i, j] * h[t][j] for j in range(m)) + U[i, x[t]] + b[i] for i in range(m)]
        h.append([math.tanh(v) for v in a])
        o = [sum(V[k, j] * h[t + 1][j] for j in range(m)) + c[k] for k in range(K)]
        top = max(o)
        e = [math.exp(v - top) for v in o]
        s = sum(e)
        p.append([v / s for v in e])
        loss -= math.log(p[t][y[t]])
    dW, dU, dV = np.zeros((m, m)), np.zeros((m, K)), np.zeros((K, m))
    db, dc = np.zeros(m), np.zeros(K)
    dh_next = [0.0] * m
    for t in reversed(range(T)):
        do = list(p[t])
        do[y[t]] -= 1
        for k in range(K):
            dc[k] += do[k]
            for j in range(m):
                dV[k, j] += do[k] * h[t + 1][j]
        da = [(sum(V[k, i] * do[k] for k in range(K)) + dh_next[i]) * (1 - h[t + 1][i] ** 2) for i in range(m)]
        for i in range(m):
            db[i] += da[i]
            dU[i, x[t]] += da[i]
        for i in range(1, m):
            for j in range(m):
                dW[i, j] += da[i] * h[t][j]
        dh_next = [sum(W[i, j] * da[i] for i in range(m)) for j in range(m)]
    return loss, {"W": dW, "U": dU, "V": dV, "b": db, "c": dc}, np.array(h[T])
