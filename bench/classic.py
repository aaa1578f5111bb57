"""The second yardstick of `make bench`: a training loop as course starter code writes it.

Column vectors (m x 1, K x 1), a one-hot column per input character, the states of a sequence in dicts keyed by
time step, a dict of parameters and one of AdaGrad memories: the way the lab's handout and most students' first
versions do it. Nothing here is reused by labrnn; it only sets the pace labrnn is measured against.
"""
from __future__ import annotations

import numpy as np


def loss_and_grads(P, inputs, targets, hprev):
    """The loss of one sequence, the gradients of W, U, V, b, c and the last hidden state (m x 1)."""
    K = P["U"].shape[1]
    xs, hs, ps = {}, {-1: np.copy(hprev)}, {}
    loss = 0.0
    for t in range(len(inputs)):
        xs[t] = np.zeros((K, 1))
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(np.dot(P["U"], xs[t]) + np.dot(P["W"], hs[t - 1]) + P["b"])
        os = np.dot(P["V"], hs[t]) + P["c"]
        ps[t] = np.exp(os - np.max(os)) / np.sum(np.exp(os - np.max(os)))
        loss += -np.log(ps[t][targets[t], 0])
    grads = {k: np.zeros_like(v) for k, v in P.items()}
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(inputs))):
        do = np.copy(ps[t])
        do[targets[t]] -= 1
        grads["V"] += np.dot(do, hs[t].T)
        grads["c"] += do
        dh = np.dot(P["V"].T, do) + dhnext
        da = (1 - hs[t] * hs[t]) * dh
        grads["b"] += da
        grads["U"] += np.dot(da, xs[t].T)
        grads["W"] += np.dot(da, hs[t - 1].T)
        dhnext = np.dot(P["W"].T, da)
    return loss, grads, hs[len(inputs) - 1]


def train(data, K, n, m=100, seq_length=25, eta=0.1, sigma=0.01, seed=1):
    """n AdaGrad updates on the character indices `data`; the last smooth loss."""
    rng = np.random.default_rng(seed)
    P = {"W": rng.standard_normal((m, m)) * sigma, "U": rng.standard_normal((m, K)) * sigma,
         "V": rng.standard_normal((K, m)) * sigma, "b": np.zeros((m, 1)), "c": np.zeros((K, 1))}
    mem = {k: np.zeros_like(v) for k, v in P.items()}
    smooth_loss = -np.log(1.0 / K) * seq_length
    e, hprev = 0, np.zeros((m, 1))
    for _ in range(n):
        if e + seq_length + 1 >= len(data):
            e, hprev = 0, np.zeros((m, 1))
        inputs = [int(ch) for ch in data[e:e + seq_length]]
        targets = [int(ch) for ch in data[e + 1:e + seq_length + 1]]
        loss, grads, hprev = loss_and_grads(P, inputs, targets, hprev)
        smooth_loss = smooth_loss * 0.999 + loss * 0.001
        for k in P:
            np.clip(grads[k], -5, 5, out=grads[k])
            mem[k] += grads[k] * grads[k]
            P[k] += -eta * grads[k] / np.sqrt(mem[k] + 1e-8)
        e += seq_length
    return smooth_loss
