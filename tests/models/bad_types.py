"""Wrong types: the gradients come back as a list in the order W, U, V, b, c instead of a dict."""
import numpy as np


def loss_and_grads(params, x, y, h0):
    grads = [np.zeros_like(params[k]) for k in ("W", "U", "V", "b", "c")]
    return 1.0, grads, np.zeros_like(h0)
