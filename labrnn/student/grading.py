"""What labrnn computes itself while a student's loss_and_grads trains: every number that is shown or ranked.

Their function supplies the gradients that train their model, and nothing else is taken from it.  The loss of
every step (the smooth-loss curve, its minimum, divergence) and the hidden state carried on to the next sequence
come from labrnn's forward pass on the same parameters, data and h0; the loss and h_last they return are compared
with those at every step.  At the start (step 0) and at CHECKS steps drawn from the run's seed, one in each
CHECKS-th of the run, their gradients are also set against the reference's on the same parameters: a function
that is right at first and wrong later is found out, wherever in the run that begins.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from labrnn.rnn.engines import NumpyEngine
from labrnn.rnn.model import NAMES, forward
from labrnn.rnn.model import loss_and_grads as reference
from labrnn.student.diagnose import TOL, explain, rel, tolerance

CHECKS = 8                  # gradient comparisons spread over the run, beside the one at step 0


def check_steps(seed: int, total: int) -> list[int]:
    """Step 0 and one step drawn in each of CHECKS equal parts of steps 1 .. total - 1 (its own random stream:
    the run's other draws stay as they are)."""
    rng = np.random.default_rng([seed, 3])
    steps = {0} if total > 0 else set()
    for i in range(CHECKS):
        lo, hi = 1 + i * (total - 1) // CHECKS, 1 + (i + 1) * (total - 1) // CHECKS
        if hi > lo:
            steps.add(int(rng.integers(lo, hi)))
    return sorted(steps)


@dataclass
class Mismatch:
    """How often what they returned for one quantity (the loss, h_last) differed from labrnn's, and where first."""
    differing_steps: int = 0
    first_step: int | None = None
    max_rel: float = 0.0
    first_theirs: float | None = None           # the loss only: theirs and labrnn's at the first difference
    first_ours: float | None = None

    def see(self, step: int, r: float, theirs: float | None = None, ours: float | None = None) -> None:
        self.max_rel = max(self.max_rel, r)
        if r > TOL:
            self.differing_steps += 1
            if self.first_step is None:
                self.first_step, self.first_theirs, self.first_ours = step, theirs, ours


@dataclass
class Record:
    """What training compared: their loss and h_last at every step, their gradients at the checked steps."""
    steps: int = 0                                              # steps graded
    checked_steps: list[int] = field(default_factory=list)      # the steps chosen for a gradient comparison
    their_loss: Mismatch = field(default_factory=Mismatch)
    their_h_last: Mismatch = field(default_factory=Mismatch)
    gradient_checks: list[dict] = field(default_factory=list)   # {"step", "max_rel": {W: ..}, "matches", ...}

    @property
    def ok(self) -> bool:
        return (self.their_loss.differing_steps == 0 and self.their_h_last.differing_steps == 0
                and all(c["matches"] for c in self.gradient_checks))

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}

    @classmethod
    def from_dict(cls, doc: dict) -> "Record":
        return cls(doc["steps"], list(doc["checked_steps"]), Mismatch(**doc["their_loss"]),
                   Mismatch(**doc["their_h_last"]), list(doc["gradient_checks"]))


class Grader:
    """Their sandboxed loss_and_grads as the numpy engine calls it, returning labrnn's loss and h_last with
    their gradients; `step` is the training step of the next call."""

    def __init__(self, sandbox):
        self.sandbox, self.step = sandbox, 0

    def plan(self, seed: int, total: int, clip: float, record: dict | None = None) -> None:
        """The run it grades, as the Trainer knows it: the steps compared with the reference, drawn from the seed
        (`record`: what a checkpoint kept of an earlier part of the run)."""
        self.clip = clip
        self.record = Record.from_dict(record) if record else Record(checked_steps=check_steps(seed, total))
        self._checked = frozenset(check_steps(seed, total))

    def engine(self) -> GradedEngine:
        """The numpy engine training with their gradients through this grader."""
        return GradedEngine(self)

    def __call__(self, params, x, y, h0):
        self.sandbox.send(params, x, y, h0)     # their call runs in its process while labrnn computes its own
        H, logP = forward(params, x, h0)
        loss = float(-logP[np.arange(len(y)), y].sum())         # as labrnn.rnn.model.loss_and_grads computes it
        h_last = H[-1].copy()
        theirs, grads, their_h = self.sandbox.reply()
        r, step = self.record, self.step
        scale = max(abs(theirs), abs(loss))
        r.their_loss.see(step, abs(theirs - loss) / scale if scale > 0 else 0.0, theirs, loss)
        r.their_h_last.see(step, rel(their_h, h_last))
        if step in self._checked:
            ran = reference(params, x, y, h0)           # the lab's (loss, grads, h_last), computed once here
            found, tol = {k: rel(grads[k], ran[1][k]) for k in NAMES}, tolerance(params, x, y, h0, ran)
            check = {"step": step, "max_rel": found, "tolerance": {k: tol[k] for k in NAMES},
                     "matches": all(found[k] <= tol[k] for k in NAMES)}
            if not check["matches"]:        # which known mistake, if any: labrnn.student.diagnose's variants
                check["explained"] = explain({"loss": theirs, **grads, "h_last": their_h}, params, x, y, h0,
                                             self.clip)
            r.gradient_checks.append(check)
        r.steps, self.step = step + 1, step + 1
        return loss, grads, h_last


class GradedEngine(NumpyEngine):
    """The numpy engine with a Grader as its loss_and_grads, which it tells the first step of every chunk."""

    def train(self, state, data, first, n, hyper):
        self.loss_and_grads.step = first
        return super().train(state, data, first, n, hyper)
