"""Right only at the size it was written for: h_last always has 8 entries, so training (m = 8) works and the
gradient check's small network (m = 3) gets a wrong shape."""
from labrnn.model import loss_and_grads as labrnn_loss_and_grads


def loss_and_grads(params, x, y, h0):
    loss, grads, h_last = labrnn_loss_and_grads(params, x, y, h0)
    return loss, grads, h_last[:1].repeat(8)
