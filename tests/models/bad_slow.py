"""Too slow for one call: each call takes an hour."""
import time

import numpy as np


def loss_and_grads(params, x, y, h0):
    time.sleep(3600)
    return 1.0, {k: np.zeros_like(v) for k, v in params.items()}, np.zeros_like(h0)
