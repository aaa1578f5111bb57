"""Breaks during training: correct (labrnn's own function) until training step 40, then NaN.  Every call before
training (the check of the file, the gradient check, the comparisons with the reference) reads the corpus's first
characters, as step 0 does; step s reads the s-th piece after them.  So only calls on other input count: steps 1
to 39 are the first 39 of them, and step 40 returns NaN, whatever checks came before."""

from labrnn.model import loss_and_grads as labrnn_loss_and_grads

first, calls = None, 0


def loss_and_grads(params, x, y, h0):
    global first, calls
    loss, grads, h_last = labrnn_loss_and_grads(params, x, y, h0)
    first = list(x) if first is None else first
    if list(x) != first:
        calls += 1
        if calls >= 40:
            loss = float("nan")
    return loss, grads, h_last
