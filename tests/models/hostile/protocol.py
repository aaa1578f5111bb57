"""Writes its own reply into labrnn's pipe: a pickle that runs a command when unpickled."""
import os
import pickle
import struct
import sys

T = {}


class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {T['marker']}",))


data = pickle.dumps(("ok", Payload()))
os.write(int(sys.argv[1]), struct.pack("!i", len(data)) + data)


def loss_and_grads(params, x, y, h0):
    raise RuntimeError("unreachable")
