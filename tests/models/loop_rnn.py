"""A correct implementation of the lab written as a plain per-step loop, in another order of additions than
labrnn's: it must match the reference at every probe, at the run's m = 100 too, where large weights amplify
round-off (labrnn.student.diagnose.tolerance)."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    """The loss of one sequence, its gradients, and the last hidden state.

    params  a dict of numpy float arrays:
              W (m, m)   hidden to hidden       U (m, K)   input to hidden     b (m,)   hidden bias
              V (K, m)   hidden to output       c (K,)     output bias
    x, y    integer arrays of one length T: the indices of the input characters and of the targets
            (y[t] is the character after x[t]); x_t below is the one-hot vector of x[t], of length K
    h0      the hidden state before the first character, shape (m,)

    The lab's equations, for t = 1..T:

        a_t = W h_{t-1} + U x_t + b
        h_t = tanh(a_t)
        o_t = V h_t + c
        p_t = softmax(o_t)
        loss = - sum_t log p_t[y_t]          (summed over the sequence, natural log)

    Return (loss, grads, h_last):
        loss    a float
        grads   a dict with exactly the keys "W", "U", "V", "b", "c", each the gradient of the loss with respect
                to that parameter, with its shape; unclipped (labrnn clips to [-clip, clip] before each update)
        h_last  h_T, shape (m,): labrnn passes it back as h0 of the next sequence
    """
    W, U, V, b, c = (params[k] for k in ("W", "U", "V", "b", "c"))
    T, m = len(x), W.shape[0]
    hs, ps = [h0], []
    loss = 0.0
    for t in range(T):
        a = W @ hs[-1] + U[:, x[t]] + b
        h = np.tanh(a)
        o = V @ h + c
        p = np.exp(o - o.max()); p /= p.sum()
        hs.append(h); ps.append(p)
        loss -= np.log(p[y[t]])
    dW, dU, dV = np.zeros_like(W), np.zeros_like(U), np.zeros_like(V)
    db, dc = np.zeros_like(b), np.zeros_like(c)
    dh_next = np.zeros(m)
    for t in reversed(range(T)):
        g = ps[t].copy(); g[y[t]] -= 1.0
        dV += np.outer(g, hs[t + 1]); dc += g
        dh = V.T @ g + dh_next
        da = dh * (1.0 - hs[t + 1] ** 2)
        dW += np.outer(da, hs[t]); dU[:, x[t]] += da; db += da
        dh_next = W.T @ da
    return float(loss), {"W": dW, "U": dU, "V": dV, "b": db, "c": dc}, hs[-1]
