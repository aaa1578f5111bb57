"""The comparison page of many runs: one figure, one ranking, their best passages; `compare` for report
directories made anywhere.

Runs are compared per character (smooth loss / seq_length), because a longer sequence sums more characters
into each loss: 37.2 at seq 20 is worse than 42.7 at seq 25.  The page is one file that opens offline
(figure embedded, the sorting script inline), written with sweep.json beside it for scripts.
"""
from __future__ import annotations

import base64
import json
import math
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

from markupsafe import Markup

from labrnn.iorw import atomic_write
from labrnn.layout import COMPARISON, RECORD
from labrnn.report import render
from labrnn.report.degenerate import marks
from labrnn.report.public import public
from labrnn.report.render import href
from labrnn.report.rundir import RunDir, RunDirError, claim, open_run
from labrnn.rnn.corpus import shown
from labrnn.rnn.gradcheck import GradCheck
from labrnn.rnn.model import NAMES
from labrnn.rnn.train import Run
from labrnn.settings import SWEPT, ConfigError, Settings, meta
from labrnn.student.diagnose import Diagnosis
from labrnn.sweeps.grid import fmt, label, sweep_name, varied

HIGHLIGHT = 5       # a comparison's best runs: in colour in its figure, their passages shown open


@dataclass
class Done:
    """A finished run as a comparison shows it: its settings, report, run, gradient check and diagnosis."""
    settings: Settings
    report: Path
    run: Run
    check: GradCheck | None = None          # the model's gradient check and its comparison with the reference
    diagnosis: Diagnosis | None = None

    @cached_property
    def marks(self) -> list[str]:
        """Its degenerate outcomes (labrnn.report.degenerate), a few words each: marked, and ranked after the rest."""
        return marks(self.run)

    @classmethod
    def of(cls, rd: RunDir) -> "Done":
        """The complete run in rd, with its gradient check and diagnosis."""
        cached = open_run(rd)
        run = cached.run
        settings = replace(run.settings, model=run.model["path"]) if run.model else run.settings
        return cls(settings, rd / RunDir.REPORT, run, cached.check, cached.diagnosis)


def number(x: float, spec: str = ".2f") -> str:
    """A loss or a speed as the log and the comparison show it: fixed-point, and from 10 digits before the point
    on in scientific notation (a run.json's 1e308 as 1e+308, not 309 digits)."""
    return f"{x:.3g}" if abs(x) >= 1e9 else f"{x:{spec}}"


def compare(dirs: list[str | Path], reports: str | Path) -> Path:
    """REPORTS/compare-<name>/comparison.html for the runs in `dirs`, wherever they were made (copies, SLURM
    job arrays of `labrnn report`), and the index beside it.

    Raises RunDirError naming a directory without a complete run, ConfigError for runs on different corpora,
    before anything is written.
    """
    done, seen = [], set()
    for d in dirs:
        rd = RunDir(Path(os.path.abspath(d)))
        if not rd.path.is_dir():
            raise RunDirError(f"{shown(str(d))} is no directory: give report directories to compare")
        if rd.path in seen:
            continue
        seen.add(rd.path)
        done.append(Done.of(rd))
    if not done:
        raise ConfigError("give the report directories to compare: labrnn compare DIR...")
    first = done[0]
    for d in done[1:]:
        if d.run.corpus["sha256"] != first.run.corpus["sha256"]:
            raise ConfigError(f"{shown(str(first.report.parent))} and {shown(str(d.report.parent))} hold runs on "
                              f"different corpora ({shown(first.run.corpus['name'])}, sha256 "
                              f"{first.run.corpus['sha256'][:8]}; {shown(d.run.corpus['name'])}, sha256 "
                              f"{d.run.corpus['sha256'][:8]}): compare runs on one corpus")
    names = varied([d.settings for d in done])
    name = sweep_name([d.settings for d in done], first.run.corpus)
    reports = claim(Path(reports))
    out = write_comparison(reports / f"compare-{name}", name, first.run.corpus, done, [], names, command="compare")
    index(reports)
    return out


def index(reports: Path) -> None:
    """reports/index.html, which lists the comparisons too."""
    sys.modules.setdefault("rfc3987_syntax", None)      # as in make_report: skips a 2-4 s grammar build
    from labrnn.report.export import build_index
    build_index(reports)


def per_char(done: Done) -> float:
    """The ranking key: minimum smooth loss per character (a run with no finite loss ranks last)."""
    loss = done.run.best.smooth_loss
    return loss / done.settings.seq_length if math.isfinite(loss) else math.inf


def figure(ranked: list[Done], names: list[str]):
    """Smooth loss per character of every run on one axis, the held-out loss per character as circles; the best
    HIGHLIGHT runs in colour, in the legend and framing the view, the others faint grey behind them."""
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from labrnn.report.plots import draw_curve
    fig = Figure(figsize=(9, 4.4), layout="constrained")
    ax = fig.add_subplot()
    tops, lows, legend = [], [], []
    for i, d in reversed(list(enumerate(ranked))):      # the best drawn last, on top
        scale, best = d.settings.seq_length, i < HIGHLIGHT
        draw_curve(ax, d.run.curve, label=label(d.settings, names), scale=scale, annotate=False)
        line = ax.get_lines()[-1]
        line.set(color=f"C{i}", lw=1.0, zorder=3) if best else line.set(color="0.82", lw=0.6, zorder=1)
        if not best:
            continue
        legend.insert(0, line)
        scored = [s for s in d.run.samples if s.heldout_loss_per_char is not None]
        if scored:
            ax.plot([s.step for s in scored], [s.heldout_loss_per_char for s in scored], "o--",
                    color=line.get_color(), ms=3.5, lw=0.7, zorder=3)
        y = np.asarray(d.run.curve, dtype=float) / scale
        start = len(y) // 20        # the view begins after the first 5% of steps: the fall from ln K hides the rest
        seen = [*y[start:][np.isfinite(y[start:])], *(s.heldout_loss_per_char for s in scored if s.step >= start)]
        if seen:
            tops.append(max(seen))
            lows.append(min(seen))
    if tops:
        lo, hi = min(lows), max(tops)
        ax.set_ylim(lo - 0.05 * (hi - lo + 1e-9), hi + 0.05 * (hi - lo + 1e-9))
    if len(ranked) > HIGHLIGHT:
        legend.append(Line2D([], [], color="0.82", lw=0.6, label=f"the other {len(ranked) - HIGHLIGHT} runs"))
    if any(s.heldout_loss_per_char is not None for d in ranked[:HIGHLIGHT] for s in d.run.samples):
        legend.append(Line2D([], [], ls="--", marker="o", color="0.4", ms=3.5, lw=0.7,
                             label="held-out (at the samples)"))
    ax.set_xlabel("update step")
    ax.set_ylabel("loss per character (nats)")
    ax.margins(x=0.01)
    ax.grid(alpha=0.25)
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:,.0f}")
    ax.legend(handles=legend, frameon=False, fontsize=8)
    return fig


def row(rank: int, d: Done, out: Path) -> dict:
    """One row of the ranking: each cell's text, and the number it sorts by (None sorts last)."""
    run, p = d.run, d.settings
    best, final = run.best.smooth_loss, float(run.curve[-1]) if len(run.curve) else math.nan
    scored = [s for s in run.samples if s.heldout_bits_per_char is not None]
    heldout = scored[-1].heldout_bits_per_char if scored else None
    return {"rank": rank, "settings": [(fmt(getattr(p, n), n), fmt(p.model, n) if n == "model" else getattr(p, n))
                                       for n in SWEPT],
            "gradients": gradients(d.check), "diagnosis": d.diagnosis.summary() if d.diagnosis else "—",
            "min": number(best), "min_step": f"{run.best.step:,}", "min_char": number(best / p.seq_length, ".3f"),
            "final": number(final), "final_char": number(final / p.seq_length, ".3f"),
            "heldout": number(heldout, ".3f") if scored else "—",
            "heldout_step": f"{scored[-1].step:,}" if scored else "",
            "speed": number(run.steps_per_second, ",.0f"),
            "href": href(*Path(os.path.relpath(d.report, out)).parts) if d.report.exists() else None,
            "dir": d.report.parent.name,
            "sort": {"min": _finite(best), "min_step": run.best.step, "min_char": _finite(best / p.seq_length),
                     "final": _finite(final), "final_char": _finite(final / p.seq_length), "heldout": heldout,
                     "speed": run.steps_per_second},
            "degenerate": d.marks,
            "note": "; ".join(([f"diverged at step {run.diverged['step']:,}"] if run.diverged else
                               [f"broke at step {run.broken.step:,}"] if run.broken else [])
                              + [f"degenerate, ranked last: {m}" for m in d.marks if m != "diverged"])}


def gradients(check: GradCheck | None) -> str:
    """The gradient check's verdict per parameter, in a few characters: "pass", or the ones that fail."""
    if check is None:
        return "—"
    failing = [r.name for r in check.rows if not r.passed]
    return "pass" if not failing else "FAIL " + " ".join(failing)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def confinement(done: list[Done]) -> list[str]:
    """The protections in force, one line per set of them, naming the files that ran under it."""
    groups: dict[str, list[str]] = {}
    for d in done:
        if d.run.model:
            c = d.run.model.get("confinement") or {}
            text = ", ".join(c.get("enforced", [])) or "none"
            if c.get("missing"):
                text += f"; missing: {', '.join(c['missing'])}"
            groups.setdefault(text, []).append(shown(d.run.model["name"]))
    return [f"{', '.join(sorted(names))}: {text}" for text, names in sorted(groups.items())]


def passages(ranked: list[Done], names: list[str]) -> list[dict]:
    """Each run's best passage, in ranking order, its generated text escaped."""
    return [{"rank": i, "label": label(d.settings, names), "step": f"{d.run.best.step:,}",
             "loss": number(d.run.best.smooth_loss), "char": number(per_char(d), ".3f"),
             "text": Markup(render.escape(d.run.best.text))} for i, d in enumerate(ranked, 1)]


def record(name: str, command: str, made_at: str, corpus: dict, names: list[str], rows: list[dict],
           ranked: list[Done], failed: list[tuple[Settings, str]]) -> dict:
    """sweep.json: the ranking for scripts."""
    return {"name": name, "command": command, "made_at": made_at,
            "corpus": {"name": corpus["name"], "sha256": corpus["sha256"]}, "swept": names,
            "runs": [{"dir": r["dir"], "label": label(d.settings, names), "params": d.settings.numbers(),
                      "model": d.run.model, "gradients": r["gradients"], "diagnosis": r["diagnosis"],
                      "degenerate": r["degenerate"],
                      "min_smooth_loss": _finite(d.run.best.smooth_loss),
                      "min_loss_per_char": _finite(per_char(d))} for r, d in zip(rows, ranked)],
            "failed": [{"params": p.numbers(), "model": p.model, "error": e} for p, e in failed]}


def class_page(name: str, command: str, corpus: dict, ranked: list[Done], failed: list[tuple[Settings, str]],
               names: list[str], out: Path, made_at: str, same: list[list[str]]) -> str:
    """The page of a class's sweep (MODEL a folder): one row per submission, file first, then its verdicts,
    diagnosis, losses and report; the settings every row shares stated once above; the class's summary first
    (passes per parameter, a bar per diagnosis, what did not run and why, the groups of identical code)."""
    varying = [n for n in names if n != "model"]
    group = {path: i for i, paths in enumerate(same, 1) for path in paths}
    by_file = sorted(ranked, key=lambda d: (fmt(d.settings.model, "model"), d.report.parent.name))
    rows = [{**row(i, d, out), "file": fmt(d.settings.model, "model"), "same": group.get(d.settings.model),
             "settings": [(fmt(getattr(d.settings, n), n), getattr(d.settings, n)) for n in varying]}
            for i, d in enumerate(by_file, 1)]
    checks = [d.check for d in ranked if d.check is not None]
    passes = [(k, sum(r.passed for c in checks for r in c.rows if r.name == k), len(checks)) for k in NAMES]
    diagnoses = Counter(r["diagnosis"] for r in rows).most_common() + ([("did not run", len(failed))] if failed else [])
    reasons = Counter(re.sub(r"^.*?\.py(:\d+)?: ", "", public(e)) for _, e in failed).most_common()  # file once
    settings = [d.settings for d in ranked] + [p for p, _ in failed]
    common = [f"{meta(n).symbol} = {fmt(getattr(settings[0], n), n)}" for n in SWEPT if n not in names]
    lengths = sorted({f"{s.epochs:,} epochs" if s.epochs else f"{s.steps:,} steps" for s in settings})
    return render.HTML.get_template("class-comparison.html.j2").render(
        name=name, command=command, corpus=corpus["name"], made_at=made_at[:16].replace("T", " "),
        files=len({s.model for s in settings}), common=", ".join([*common, " and ".join(lengths)]),
        passes=passes, diagnoses=diagnoses, reasons=reasons, most=max([c for _, c in diagnoses] or [1]), rows=rows,
        varying=[meta(n).symbol for n in varying],
        same=[[fmt(path, "model") for path in paths] for paths in same],
        failed=[{"file": fmt(p.model, "model"), "error": public(e), "same": group.get(p.model),
                 "settings": [(fmt(getattr(p, n), n), getattr(p, n)) for n in varying]} for p, e in failed],
        confinement=confinement(ranked))


def write_comparison(out: Path, name: str, corpus: dict, done: list[Done], failed: list[tuple[Settings, str]],
                     names: list[str], command: str = "sweep", same: list[list[str]] = ()) -> Path:
    """comparison.html and sweep.json in `out`, each written under a temporary name and renamed; `corpus` is
    the runs' corpus as Corpus.info() gives it, `command` the one that made the page (sweep or compare).  Runs of
    students' files make a class's page (`class_page`), with `same` its groups of identical code."""
    # a degenerate run after every healthy one; ties by name, not by finishing order
    ranked = sorted(done, key=lambda d: (bool(d.marks), per_char(d), d.report.parent.name))
    made_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows = [row(i, d, out) for i, d in enumerate(ranked, 1)]
    if any(d.settings.model is not None for d in done) or any(p.model is not None for p, _ in failed):
        page = class_page(name, command, corpus, ranked, failed, names, out, made_at, list(same))
    else:
        page = ranking_page(name, command, corpus, ranked, rows, failed, names, made_at)
    claim(out)
    atomic_write(out / COMPARISON, lambda fh: fh.write(page.encode("utf-8")))
    text = json.dumps(record(name, command, made_at, corpus, names, rows, ranked, failed), indent=1,
                      ensure_ascii=False, allow_nan=False) + "\n"
    atomic_write(out / RECORD, lambda fh: fh.write(text.encode("utf-8")))
    return out / COMPARISON


def ranking_page(name: str, command: str, corpus: dict, ranked: list[Done], rows: list[dict],
                 failed: list[tuple[Settings, str]], names: list[str], made_at: str) -> str:
    """The page of a grid of settings: the figure, the ranking, the best passages."""
    from labrnn.report.plots import png
    shown_passages = passages(ranked, names)
    lengths = sorted({(d.settings.epochs is not None, d.settings.epochs or d.settings.steps) for d in ranked})
    length = " and ".join(f"{n:,} {'epochs' if epochs else 'steps'}" for epochs, n in lengths)
    grid = " × ".join(f"{meta(n).symbol} "
                      f"{', '.join(fmt(v, n) for v in sorted({getattr(d.settings, n) for d in ranked}, key=str))}"
                      for n in names)
    return render.HTML.get_template("sweep-comparison.html.j2").render(
        name=name, command=command, corpus=corpus["name"], grid=grid, length=length, runs=len(ranked), rows=rows,
        passages=shown_passages[:HIGHLIGHT], others=shown_passages[HIGHLIGHT:],
        made_at=made_at[:16].replace("T", " "),
        failed=[{"label": label(p, names), "error": public(e)} for p, e in failed],
        png=base64.b64encode(png(figure(ranked, names))).decode("ascii"), columns=[meta(n).symbol for n in SWEPT])
