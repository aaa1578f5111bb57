"""RNN forward/backward; the loss is reported per character (np.mean), the gradients are summed."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    W, U, V, b, c = params["W"], params["U"], params["V"], params["b"], params["c"]
    K = V.shape[0]
    hs, ps, losses = [np.array(h0, dtype=float)], [], []
    for t in range(len(x)):
        h = np.tanh(W.dot(hs[-1]) + U[:, x[t]] + b)
        o = V.dot(h) + c
        p = np.exp(o - o.max())
        p /= p.sum()
        hs.append(h)
        ps.append(p)
        losses.append(-np.log(p[y[t]]))
    loss = np.mean(losses)

    grads = {k: np.zeros_like(v) for k, v in params.items()}
    dh_next = np.zeros(W.shape[0])
    for t in range(len(x) - 1, -1, -1):
        do = ps[t].copy()
        do[y[t]] -= 1
        grads["V"] += np.outer(do, hs[t + 1])
        grads["c"] += do
        da = (V.T.dot(do) + dh_next) * (1 - hs[t + 1] ** 2)
        grads["b"] += da
        grads["U"][:, x[t]] += da
        grads["W"] += np.outer(da, hs[t])
        dh_next = W.T.dot(da)
    return loss, grads, hs[-1]
