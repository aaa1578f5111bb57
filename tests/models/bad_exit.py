"""sys.exit at import: a script's ending left in the file."""
import sys

import numpy as np


def loss_and_grads(params, x, y, h0):
    return 1.0, {k: np.zeros_like(v) for k, v in params.items()}, np.zeros_like(h0)


sys.exit("done")
