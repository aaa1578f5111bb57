"""Ends its process group at import: once that was the whole sweep."""
import os
import signal

T = {}
os.killpg(os.getpgid(0), signal.SIGTERM)


def loss_and_grads(params, x, y, h0):
    raise RuntimeError("still alive")
