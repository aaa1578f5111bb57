"""Analytic gradients against centered differences, as the lab checks them.

The check is of any implementation of the contract `loss_and_grads(params, x, y, h0) -> (loss, grads, h_last)`:
labrnn's own by default, or a student's, whose numerical gradients then come from their own loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labrnn.progress import bar
from labrnn.rnn.corpus import Corpus
from labrnn.rnn.model import NAMES, init_params
from labrnn.rnn.model import loss as lab_loss
from labrnn.rnn.model import loss_and_grads as lab_loss_and_grads
from labrnn.settings import check_gradcheck

EPS = 1e-6
MAX_ABS = 1e-8
MAX_REL = 1e-4
SHOW_PROGRESS = 5_000       # entries from which the check shows a progress bar


def numerical_grads(params, x, y, h0, h: float, nudged) -> dict[str, np.ndarray]:
    """Centered differences (L(θ+h) - L(θ-h)) / 2h of every entry, the losses of each parameter from
    `nudged(params, x, y, h0, name, h) -> (up, down)`: `one_at_a_time` of a loss function, or a student's sandbox,
    which makes a parameter's calls in its child on one request."""
    grads = {}
    progress = bar(total=sum(params[k].size for k in NAMES), desc="gradient check", unit="entry",
                   enabled=sum(params[k].size for k in NAMES) > SHOW_PROGRESS, leave=False)
    for name in NAMES:
        up, down = nudged(params, x, y, h0, name, h)
        grads[name] = ((up - down) / (2 * h)).reshape(params[name].shape)
        progress.update(params[name].size)
    progress.close()
    return grads


def one_at_a_time(loss):
    """`nudged` for a loss function: each entry of params[name] moved by +h, then -h, in place and put back."""
    def nudged(params, x, y, h0, name: str, h: float) -> tuple[np.ndarray, np.ndarray]:
        flat = params[name].reshape(-1)             # a view: params are check_at's own contiguous copies
        up, down = np.empty(flat.size), np.empty(flat.size)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + h
            up[i] = loss(params, x, y, h0)
            flat[i] = old - h
            down[i] = loss(params, x, y, h0)
            flat[i] = old
        return up, down
    return nudged


@dataclass(frozen=True)
class Row:
    name: str
    max_rel: float
    mean_rel: float
    max_abs: float
    mean_abs: float

    @property
    def passed(self) -> bool:
        return self.max_abs < MAX_ABS and self.max_rel < MAX_REL


@dataclass(frozen=True)
class GradCheck:
    rows: tuple[Row, ...]
    m: int
    seq_length: int
    h: float
    seed: int

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    def table(self) -> str:
        lines = [f"{'param':<6}{'max rel':>11}{'mean rel':>11}{'max abs':>11}{'mean abs':>11}  verdict"]
        for r in self.rows:
            lines.append(f"{r.name:<6}{r.max_rel:>11.2e}{r.mean_rel:>11.2e}{r.max_abs:>11.2e}"
                         f"{r.mean_abs:>11.2e}  {'pass' if r.passed else 'FAIL'}")
        verdict = "PASSED" if self.passed else "FAILED"
        lines.append(f"gradient check {verdict} (m={self.m}, seq_length={self.seq_length}, h={self.h:g}; "
                     f"bounds: max abs < {MAX_ABS:g}, max rel < {MAX_REL:g})")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"m": self.m, "seq_length": self.seq_length, "h": self.h, "seed": self.seed,
                "passed": self.passed,
                "rows": [dict(vars(r), passed=r.passed) for r in self.rows]}

    @classmethod
    def from_dict(cls, doc: dict) -> "GradCheck":
        rows = tuple(Row(r["name"], r["max_rel"], r["mean_rel"], r["max_abs"], r["mean_abs"]) for r in doc["rows"])
        return cls(rows, doc["m"], doc["seq_length"], doc["h"], doc["seed"])


def compare(analytic: np.ndarray, numeric: np.ndarray, name: str) -> Row:
    diff = np.abs(analytic - numeric)
    rel = diff / np.maximum(EPS, np.abs(analytic) + np.abs(numeric))
    return Row(name, float(rel.max()), float(rel.mean()), float(diff.max()), float(diff.mean()))


def gradcheck(corpus: Corpus, m: int = 5, seq_length: int = 25, seed: int = 1,
              sigma: float = 0.01, h: float = 1e-4, loss_and_grads=None) -> GradCheck:
    """Check a small network, its parameters drawn from seed, on the corpus's first seq_length characters, h0 = 0.

    loss_and_grads: the implementation to check (default labrnn's); its gradients are set against centered
    differences of the loss it returns itself, so a wrong loss with consistent gradients passes.
    """
    check_gradcheck(corpus.K, m, seq_length)
    if corpus.size < seq_length + 1:
        raise ValueError(f"the corpus has {corpus.size} characters; the gradient check needs "
                         f"seq_length + 1 = {seq_length + 1}")
    params = init_params(corpus.K, m, sigma, np.random.default_rng(seed))
    x = corpus.data[:seq_length].astype(np.int64)
    y = corpus.data[1:seq_length + 1].astype(np.int64)
    return check_at(params, x, y, h, seed, loss_and_grads)


def check_at(params, x, y, h: float, seed: int, loss_and_grads=None) -> GradCheck:
    """The check at one point from h0 = 0 (`params`, drawn from `seed`: the diagnosis's first probe is that point,
    and labrnn.report.checks passes it here), on a copy of params: the numerical gradients move its entries."""
    params = {k: np.array(v) for k, v in params.items()}
    h0 = np.zeros(params["W"].shape[0])
    _, analytic, _ = (loss_and_grads or lab_loss_and_grads)(params, x, y, h0)
    nudged = getattr(loss_and_grads, "nudged", None) or one_at_a_time(
        lab_loss if loss_and_grads is None else lambda *args: float(loss_and_grads(*args)[0]))
    numeric = numerical_grads(params, x, y, h0, h, nudged)
    rows = tuple(compare(analytic[k], numeric[k], k) for k in NAMES)
    return GradCheck(rows, h0.size, len(x), h, seed)
