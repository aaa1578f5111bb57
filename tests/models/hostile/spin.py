"""Spins in its call, forever."""
T = {}


def loss_and_grads(params, x, y, h0):
    n = 0
    while True:
        n += 1
