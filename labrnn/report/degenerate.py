"""Outcomes that are wrong for the reader although training ran: found in a finished run, with margins that a
healthy run never crosses (step 0 sits at uniform guessing and at chance by construction, so it never counts).

- held-out loss above uniform guessing, ln K nats per character, at a sample after step 0;
- a sample, or the best passage, after the first `SETTLED` steps with under half the chance share of corpus
  words (the issue's case: 0% against a chance of 6%, a passage of tabs);
- a jump of the smooth loss at an epoch boundary, where the hidden state is reset: a rise of more than `JUMP`
  (10%) over its value before the boundary within the first `WINDOW` steps of the epoch, and of more than `RISE`
  nats per character (a corpus learnt by heart, at a few hundredths of a nat per character, moves by 10% with
  round-off, which differs from one CPU to another);
- divergence (labrnn.rnn.train stops the run and says why).

Each finding names its kind, its step and one sentence; the report states them at its top and where they
occur, and the index marks the run instead of ranking it silently.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

JUMP = 0.10
RISE = 0.1
WINDOW = 1_000
SETTLED = 1_000
SHARE = 0.5
MARKS = {"heldout": "held-out loss above uniform guessing", "words": "fewer corpus words than chance",
         "jump": "loss jump at an epoch boundary", "diverged": "diverged"}     # the index's and comparisons' marks


@dataclass(frozen=True)
class Finding:
    kind: str           # "heldout", "words", "jump", "diverged"
    step: int
    sentence: str


def findings(run) -> list[Finding]:
    """Every degenerate outcome of `run`, in the order of the steps where it shows."""
    found = [*_heldout(run), *_words(run), *_jumps(run)]
    if run.diverged:
        found.append(Finding("diverged", run.diverged["step"], f"Training diverged at step "
                             f"{run.diverged['step']:,} ({run.diverged['reason']})."))
    return sorted(found, key=lambda f: f.step)


def marks(run) -> list[str]:
    """The kinds of degenerate outcome in `run`, a few words each: how the index and comparisons mark it."""
    return sorted({MARKS[f.kind] for f in findings(run)})


def _heldout(run) -> list[Finding]:
    uniform = math.log(run.corpus["K"])
    return [Finding("heldout", s.step, f"At step {s.step:,} the held-out loss, {s.heldout_loss_per_char:.2f} nats "
                    f"per character, is above uniform guessing among the K = {run.corpus['K']} characters "
                    f"(ln K = {uniform:.2f}): the model does worse from a zero hidden state than knowing nothing.")
            for s in run.samples if s.step > 0 and s.heldout_loss_per_char is not None
            and s.heldout_loss_per_char > uniform]


def _words(run) -> list[Finding]:
    def low(share, chance):
        return share < SHARE * chance
    found = [Finding("words", s.step, f"The sample at step {s.step:,} has {100 * s.word_share:.0f}% corpus words, "
                     f"under half of chance ({100 * run.chance_share:.1f}%).")
             for s in run.samples if s.step >= SETTLED and low(s.word_share, run.chance_share)]
    b = run.best
    if b.step >= SETTLED and low(b.word_share, b.chance_share):     # a short run's is early, not degenerate
        found.append(Finding("words", b.step, f"The best passage (step {b.step:,}) has {100 * b.word_share:.0f}% "
                             f"corpus words, under half of chance ({100 * b.chance_share:.1f}%)."))
    return found


def _jumps(run) -> list[Finding]:
    found = []
    for start in run.epoch_boundaries:
        before = float(run.curve[start - 1])
        window = run.curve[start:start + WINDOW]
        peak = float(window.max()) if len(window) else before
        if peak > (1 + JUMP) * before and peak - before > RISE * run.settings.seq_length:
            found.append(Finding("jump", start, f"At the epoch boundary at step {start:,}, where the hidden "
                                 f"state is reset to zero, the smooth loss rises from {before:.2f} to {peak:.2f} "
                                 f"(+{100 * (peak / before - 1):.0f}%, more than {100 * JUMP:.0f}% within "
                                 f"{WINDOW:,} steps)."))
    return found
