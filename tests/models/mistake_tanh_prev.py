"""min-char-rnn style loss function (tanh derivative at the previous state)."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    Wxh, Whh, Why = params["U"], params["W"], params["V"]
    bh, by = params["b"], params["c"]
    vocab = Wxh.shape[1]
    xs, hs, ys, ps = {}, {}, {}, {}
    hs[-1] = np.copy(h0)
    loss = 0
    for t in range(len(x)):
        xs[t] = np.zeros(vocab)
        xs[t][x[t]] = 1
        hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh)
        ys[t] = np.dot(Why, hs[t]) + by
        ps[t] = np.exp(ys[t] - np.max(ys[t])) / np.sum(np.exp(ys[t] - np.max(ys[t])))
        loss += -np.log(ps[t][y[t]])
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(x))):
        dy = np.copy(ps[t])
        dy[y[t]] -= 1
        dWhy += np.outer(dy, hs[t])
        dby += dy
        dh = np.dot(Why.T, dy) + dhnext
        dhraw = (1 - hs[t - 1] * hs[t - 1]) * dh
        dbh += dhraw
        dWxh += np.outer(dhraw, xs[t])
        dWhh += np.outer(dhraw, hs[t - 1])
        dhnext = np.dot(Whh.T, dhraw)
    return loss, {"W": dWhh, "U": dWxh, "V": dWhy, "b": dbh, "c": dby}, hs[len(x) - 1]
