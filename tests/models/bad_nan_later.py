"""Breaks during training: correct (labrnn's own function) until its 41st call on a network of m = 8, then NaN.

The gradient check and the diagnosis use a smaller network, so only training calls count: the probe before
training is call 1, and training steps 0 to 39 are calls 2 to 41, so the run breaks at step 40."""

from labrnn.model import loss_and_grads as labrnn_loss_and_grads

calls = 0


def loss_and_grads(params, x, y, h0):
    global calls
    loss, grads, h_last = labrnn_loss_and_grads(params, x, y, h0)
    if params["W"].shape[0] == 8:
        calls += 1
        if calls > 41:
            loss = float("nan")
    return loss, grads, h_last
