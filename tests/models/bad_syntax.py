"""Does not import: a syntax error on line 5."""


def loss_and_grads(params, x, y, h0):
    return loss, grads, h_last,,
