"""Named like the standard library's module: when the submissions folder was sys.path[0], every other student's
`import statistics` ran this instead."""


def fmean(values):
    raise RuntimeError("the hostile statistics.py ran in another student's process")


def loss_and_grads(params, x, y, h0):
    raise RuntimeError("statistics.py is not a model")
