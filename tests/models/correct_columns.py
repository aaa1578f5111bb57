"""A correct loss_and_grads in the style of the lab's handouts, written from its equations:

    a_t = W h_{t-1} + U x_t + b,   h_t = tanh(a_t),   o_t = V h_t + c,   p_t = softmax(o_t),
    L = -sum_t log(y_t^T p_t),

with every vector a column (m x 1 or K x 1), the inputs and targets as one-hot matrices X, Y (K x T), and
explicit loops over time, forward and back.  It shares no code with labrnn.rnn.model: the tests run it through
labrnn's sandbox and expect labrnn's numbers within round-off.
"""
import numpy as np


def one_hot(indices, K):
    M = np.zeros((K, len(indices)))
    for t, k in enumerate(indices):
        M[k, t] = 1.0
    return M


def loss_and_grads(params, x, y, h0):
    W, U, V = params["W"], params["U"], params["V"]
    b, c = params["b"].reshape(-1, 1), params["c"].reshape(-1, 1)
    m, K = U.shape
    T = len(x)
    X, Y = one_hot(x, K), one_hot(y, K)

    # forward: keep every h_t and p_t as columns
    hs = [np.asarray(h0, dtype=float).reshape(m, 1)]
    ps = []
    L = 0.0
    for t in range(T):
        a = W @ hs[-1] + U @ X[:, t:t + 1] + b
        h = np.tanh(a)
        o = V @ h + c
        e = np.exp(o - o.max())
        p = e / e.sum()
        L -= np.log((Y[:, t:t + 1].T @ p).item())
        hs.append(h)
        ps.append(p)

    # backward through time: dL/da_t collects the output's share and the next step's
    dW, dU, dV = np.zeros((m, m)), np.zeros((m, K)), np.zeros((K, m))
    db, dc = np.zeros((m, 1)), np.zeros((K, 1))
    da_next = np.zeros((m, 1))
    for t in reversed(range(T)):
        g = ps[t] - Y[:, t:t + 1]                   # dL/do_t
        dV += g @ hs[t + 1].T
        dc += g
        dh = V.T @ g + W.T @ da_next                # dL/dh_t
        da = dh * (1 - hs[t + 1] ** 2)              # through tanh at step t
        dW += da @ hs[t].T
        dU += da @ X[:, t:t + 1].T
        db += da
        da_next = da

    grads = {"W": dW, "U": dU, "V": dV, "b": db.ravel(), "c": dc.ravel()}
    return L, grads, hs[-1].ravel()
