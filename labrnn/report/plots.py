"""The smooth-loss figure: every update step, epoch boundaries marked, the minimum annotated.

Built on `matplotlib.figure.Figure` (no pyplot), so a notebook kernel pays for
neither an interactive backend nor global figure state.  `draw_curve` draws one
curve on given axes, so a comparison of several runs can reuse it.
"""
from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.figure import Figure


def draw_curve(ax, curve: np.ndarray, label: str | None = None, scale: float = 1.0,
               boundaries: list[int] = (), annotate: bool = True) -> None:
    """One smooth-loss curve (divided by `scale`), with its epoch boundaries and minimum."""
    y = np.asarray(curve, dtype=float) / scale
    line, = ax.plot(np.arange(len(y)), y, lw=0.9, label=label)
    label_every = math.ceil(len(boundaries) / 8) if len(boundaries) else 1    # at most 8 labels
    for i, step in enumerate(boundaries):
        ax.axvline(step, color="0.55", lw=0.8, ls="--", zorder=0)
        if i % label_every == 0:
            ax.text(step, 0.98, f" epoch {i + 2}", transform=ax.get_xaxis_transform(),
                    va="top", ha="left", fontsize=8, color="0.4")
    finite = np.isfinite(y)
    if annotate and finite.any():
        best = int(np.nanargmin(np.where(finite, y, np.nan)))
        where = best / max(len(y) - 1, 1)
        ax.plot([best], [y[best]], "o", ms=5, color=line.get_color())
        ax.annotate(f"min {y[best]:.2f}\nat step {best:,}", (best, y[best]), xytext=(0, 28),
                    textcoords="offset points", fontsize=8,
                    ha="right" if where > 0.85 else "left" if where < 0.15 else "center",
                    arrowprops={"arrowstyle": "-", "color": "0.4", "lw": 0.8})


def loss_figure(curve: np.ndarray, boundaries: list[int], seq_length: int) -> Figure:
    """The report's Figure 1."""
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    ax = fig.add_subplot()
    draw_curve(ax, curve, boundaries=boundaries)
    ax.set_xlabel("update step")
    ax.set_ylabel(f"smooth loss (nats per {seq_length} characters)")
    ax.margins(x=0.01)
    finite = np.asarray(curve)[np.isfinite(curve)]       # a diverged run may end in inf or NaN
    if finite.size:
        lo, hi = finite.min(), finite.max()
        ax.set_ylim(lo - 0.05 * (hi - lo) - 1e-9, hi + 0.12 * (hi - lo) + 1e-9)
    ax.grid(alpha=0.25)
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:,.0f}")
    return fig


def png(fig: Figure, dpi: int = 110) -> bytes:
    """PNG bytes without a timestamp or version stamp, so the same figure gives the same file."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def warm() -> None:
    """Draw a throwaway figure, so that matplotlib's fonts and renderer are loaded as the notebooks' kernel starts
    (while the run trains), not in the report's first figure."""
    png(loss_figure(np.array([1.0, 0.0]), [], 1))


def heldout_figure(curve: np.ndarray, scored: list, seq_length: int) -> Figure:
    """Training and held-out loss per character on one axis: does a lower smooth loss still mean a better model?"""
    fig = Figure(figsize=(8, 3.4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(np.arange(len(curve)), np.asarray(curve) / seq_length, lw=0.9, label="smooth training loss")
    ax.plot([s.step for s in scored], [s.heldout_loss_per_char for s in scored], "o-", ms=4, lw=1.2,
            label="held-out loss")
    ax.set_xlabel("update step")
    ax.set_ylabel("loss per character (nats)")
    bits = ax.secondary_yaxis("right", functions=(lambda n: n / math.log(2), lambda b: b * math.log(2)))
    bits.set_ylabel("bits per character")
    _finish(ax)
    return fig


def word_share_figure(samples: list, chance: float) -> Figure:
    """The share of generated words that are words of the corpus, at every sample, over its chance level."""
    fig = Figure(figsize=(8, 2.8), layout="constrained")
    ax = fig.add_subplot()
    ax.axhline(100 * chance, color="0.45", ls="--", lw=1)
    ax.plot([s.step for s in samples], [100 * s.word_share for s in samples], "o-", ms=4, lw=1.2)
    ax.set_xlabel("update step")
    ax.set_ylabel("corpus words (%)")
    ax.set_ylim(0, 100)
    _finish(ax, legend=False)
    return fig


def _finish(ax, legend: bool = True) -> None:
    ax.margins(x=0.01)
    ax.grid(alpha=0.25)
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:,.0f}")
    if legend:
        ax.legend(frameon=False, fontsize=9)
