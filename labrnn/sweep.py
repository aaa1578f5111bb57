"""Hyperparameter sweeps: a grid of report parameters, its reports made on a Dask cluster, one comparison page.

The seed reports compared learning rates and sequence lengths by hand; a sweep
makes one ordinary report per combination (cached like any other, so a sweep
run again only re-renders) as tasks on a Dask cluster (labrnn.cluster: one
started on this machine, or the user's), then writes
reports/sweep-<name>/comparison.html; `compare` writes the same page for
report directories made anywhere.  Runs are compared per character
(smooth loss / seq_length), because a longer sequence sums more characters
into each loss: 37.2 at seq 20 is worse than 42.7 at seq 25.
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import os
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from . import cluster, render, task
from .cache import run_key
from .corpus import Corpus, shown
from .iorw import atomic_write
from .pipeline import make_report
from .progress import bar as progress_bar
from .render import href
from .run import check_report, interrupted, load_checked
from .rundir import RunDir, RunDirError, claim, open_run
from .sandbox import ModelError, read_model
from .settings import DEFAULTS, SWEPT, ConfigError, Settings, meta
from .diagnose import Diagnosis
from .gradcheck import GradCheck
from .train import Run

from .layout import COMPARISON, RECORD
MAX_NAME = 150
HIGHLIGHT = 5       # a comparison's best runs: in colour in its figure, their passages shown open


def label(settings: Settings, names=SWEPT) -> str:
    """η=0.1 seq=25: a run as the log, the legend and the passages name it (by the settings that vary)."""
    return " ".join(f"{meta(n).symbol}={_fmt(getattr(settings, n), n)}" for n in names)


def _fmt(value, name: str | None = None) -> str:
    """A setting's value as tables and names show it; a model file by its name, one printable line (labrnn: the
    built-in model): a student names the file, and the log, legends and pages show it."""
    if name == "model":
        return "labrnn" if value is None else shown(Path(value).name)
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def number(x: float, spec: str = ".2f") -> str:
    """A loss or a speed as the log and the comparison show it: fixed-point, and from 10 digits before the point
    on in scientific notation (a run.json's 1e308 as 1e+308, not 309 digits)."""
    return f"{x:.3g}" if abs(x) >= 1e9 else f"{x:{spec}}"


def _slug(text: str) -> str:
    """A model file's stem as a name part: letters and digits, the rest one dash."""
    return "-".join("".join(ch if ch.isalnum() else " " for ch in text).split())


def _model_part(path: str | None) -> str:
    """A model file in a sweep's name: its stem and sha256 prefix, as run names show it (two files called
    my_rnn.py make two sweeps)."""
    if path is None:
        return "labrnn"
    try:
        return f"{_slug(Path(path).stem)}-{read_model(path).sha256[:8]}"
    except ModelError:          # a run compared elsewhere: its model file stayed where it was trained
        return _slug(Path(path).stem)


def submissions(path: str | None) -> list[str | None]:
    """MODEL for a sweep: a file is one model, a directory every .py file in it (a class's submissions), sorted;
    no MODEL, labrnn's own.  ConfigError for a directory without any."""
    if path is None or not Path(path).is_dir():
        return [path]
    found = sorted(str(p) for p in Path(path).iterdir() if p.suffix == ".py" and p.is_file())
    if not found:
        raise ConfigError(f"MODEL {shown(path)} is a directory without .py files; give a model file or a "
                          "directory of them")
    return found


# -- the grid -------------------------------------------------------------------
def grid(values: dict[str, list], **fixed) -> list[Settings]:
    """One Settings per combination of the swept values (each list sorted, duplicates dropped).

    Raises ConfigError naming the first combination whose settings cannot describe a run.
    """
    names = [n for n in SWEPT if n in values]
    varying = [n for n in names if len(set(values[n])) > 1] or names
    combos = []
    for combo in itertools.product(*(sorted(set(values[n])) for n in names)):
        kw = {**fixed, **dict(zip(names, combo))}
        try:
            combos.append(Settings(**kw))
        except ConfigError as err:
            where = " ".join(f"{meta(n).symbol}={_fmt(kw[n], n)}" for n in varying)
            raise ConfigError(f"combination {where}: {err}") from None
    return combos


def varied(combos: list[Settings]) -> list[str]:
    """The swept settings that take more than one value (all of them if none does)."""
    names = [n for n in SWEPT if len({getattr(p, n) for p in combos}) > 1]
    return names or list(SWEPT)


def check(combos: list[Settings]) -> Corpus:
    """Every combination checked against the corpus before anything runs; the corpus.

    Raises CorpusError, or ConfigError naming the combination.
    """
    names, seen = varied(combos), {}
    corpus = None
    for settings in combos:
        try:
            if corpus is None:
                corpus = load_checked(settings)
            check_report(settings, corpus)
        except ConfigError as err:
            raise ConfigError(f"combination {label(settings, names)}: {err}") from None
        name = settings.name(corpus.info())
        if name in seen:
            raise ConfigError(f"combinations {label(seen[name], names)} and {label(settings, names)} "
                              f"share the report directory {name}; give values that differ in 6 digits")
        seen[name] = settings
    return corpus


def sweep_name(combos: list[Settings], corpus: dict) -> str:
    """eta0.05-0.1_seq20-25_st20000_<corpus>-<sha8>: each swept setting with its values, the other settings
    that change the numbers and differ from their defaults, and the corpus."""
    parts = []
    for n in [*SWEPT, *(n for n in combos[0].numbers() if n not in SWEPT)]:     # runs compared may differ in any
        values = sorted({getattr(p, n) for p in combos}, key=lambda v: (v is None, str(v) if n == "model" else v))
        if values != [DEFAULTS[n]]:
            parts.append((meta(n).short or n) + "-".join(_model_part(v) if n == "model" else _fmt(v).lower()
                                                         for v in values))
    parts.append(replace(combos[0], model=None).name(corpus).split("_", 1)[0])     # the corpus and its sha256
    name = "_".join(parts)
    if len(name) > MAX_NAME:        # a long grid: stay within file-name limits, still one name per grid
        name = f"{name[:MAX_NAME - 9]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return name


# -- running it -----------------------------------------------------------------
RETRIES = 2         # a task that raises (not a report's own failure) runs again, on any worker, twice at most


@dataclass
class Done:
    settings: Settings
    report: Path
    run: Run
    check: GradCheck | None = None          # the model's gradient check and its comparison with the reference
    diagnosis: Diagnosis | None = None

    @classmethod
    def of(cls, rd: RunDir) -> "Done":
        """The complete run in rd, with its gradient check and diagnosis."""
        cached = open_run(rd)
        run = cached.run
        settings = replace(run.settings, model=run.model["path"]) if run.model else run.settings
        return cls(settings, rd / RunDir.REPORT, run, cached.check, cached.diagnosis)


@dataclass
class SweepResult:
    comparison: Path | None             # None when every combination failed
    done: list[Done]
    failed: list[tuple[Settings, str]]


def work(s: Settings, corpus: Corpus) -> int:
    """A run's training cost in relative units: updates x characters per update x products per character."""
    return s.total_steps(s.split(corpus.size)) * s.seq_length * s.m * (s.m + corpus.K)


def _say(msg: str) -> None:
    """A line on stderr above the progress bar."""
    from tqdm import tqdm
    tqdm.write(msg, file=sys.stderr)


def _here(settings: Settings, rd: RunDir, corpus: Corpus) -> bool:
    """Whether the run directory decides this combination without training: a cached run (re-rendered
    here), or an interrupted run that RESUME=1 or FORCE=1 must settle (refused here, as make_report does)."""
    if settings.force:
        return False
    stored = rd.read_key()
    if stored is not None and stored.key == run_key(settings, corpus):
        return True
    return not settings.resume and rd.has_checkpoint and interrupted(rd, settings, corpus)


def make_sweep(combos: list[Settings], *, notebooks: Path | None = None, progress: bool = True,
               log=_say) -> SweepResult:
    """Everything `make sweep` does: check every combination, make their reports on a Dask cluster, compare them.

    Bad input raises ConfigError or CorpusError, and a scheduler that cannot be reached ClusterError, before
    anything is written.  Cached runs are re-rendered here; the others are sent, JOBS at a time, to the cluster
    (`labrnn.cluster`) as tasks that carry what they need (`labrnn.task`).  A failing combination is logged and
    listed in the result; the others still make their reports and the comparison.  With resume, the runs an
    interrupted sweep left with a checkpoint continue from it, on any worker, and the others start.
    """
    corpus = check(combos)
    info, names = corpus.info(), varied(combos)
    name = sweep_name(combos, info)
    reports = Path(os.path.abspath(combos[0].reports))
    combos = [replace(c, reports=str(reports)) for c in combos]
    here = [c for c in combos if _here(c, RunDir(reports / c.name(info)), corpus)]
    there = sorted((c for c in combos if c not in here), key=lambda p: -work(p, corpus))  # the longest first
    where = cluster.address(combos[0].scheduler, combos[0].scheduler_file)
    jobs = combos[0].jobs
    workers = max(1, min(jobs or cluster.cores(), len(there)))
    done, failed = [], []

    def fail(settings: Settings, why: str) -> None:
        failed.append((settings, why))
        log(f"[{len(done) + len(failed)}/{len(combos)}] {label(settings, names)}: FAILED: {why}")

    def finished(settings: Settings, rd: RunDir, seconds: float, trained: bool, worker: str | None) -> None:
        done.append(replace(Done.of(rd), settings=settings))
        run = done[-1].run
        best = run.best.smooth_loss
        log(f"[{len(done) + len(failed)}/{len(combos)}] {label(settings, names)}: {seconds:.1f} s"
            f"{f' on {worker}' if worker else ''}{'' if trained else ' (cached run)'}, min smooth loss "
            f"{number(best)} = {number(best / settings.seq_length, '.3f')} nats/char; {rd / RunDir.REPORT}")

    with ExitStack() as stack:
        client = None
        if there or where is not None:          # a scheduler named is reached, or refused, before anything else
            client = stack.enter_context(cluster.connect(where, workers))
            allowed = cluster.usable_workers(client, log, combos[0].worker_timeout)
        reports = claim(reports)
        window = jobs or (workers if where is None else max(1, len(there)))
        log(f"sweep {name}: {len(combos)} reports, {len(combos) - len(there)} from their run directories "
            f"(cached runs re-rendered here), {len(there)} to make on "
            f"{where or f'{workers} local worker' + 's' * (workers > 1)}, {window} at a time")
        if client is not None and (link := cluster.dashboard_link(client)):
            log(f"dashboard: {link}")
        bar = stack.enter_context(progress_bar(total=len(combos), desc="sweep", unit="report", enabled=progress))
        running, sent, waiting, identity = {}, {}, iter(there), cluster.identity()

        def submit_next() -> None:
            """Tasks up to the window: JOBS reports in flight, the rest waits here (so Ctrl-C has little to undo)."""
            for settings in waiting:
                rd = RunDir(reports / settings.name(info))
                try:
                    rd.make()
                    checkpoint = rd / RunDir.CHECKPOINT if settings.resume and rd.has_checkpoint else None
                    t = task.task(replace(settings, resume=checkpoint is not None), rd.name, checkpoint, identity,
                                  notebooks)
                    files = {n: shipped(path) for n, path in task.files(settings).items()}
                except (RunDirError, OSError) as err:
                    fail(settings, task.one_line(err))
                    bar.update()
                    continue
                future = client.submit(task.run, t, files, key=f"report-{rd.name}-{uuid.uuid4().hex[:8]}",
                                       retries=RETRIES, workers=allowed, allow_other_workers=False)
                running[future] = (settings, rd)
                pending.add(future)
                if len(running) >= window:
                    return

        def shipped(path: Path) -> tuple:
            """A file's name and its content, sent to the cluster once for every task that needs it: as a task
            of its own, which the scheduler can run again if the worker holding its result dies (scattered
            data would be lost with that worker, and every task needing it cancelled)."""
            if path not in sent:
                sent[path] = (path.name, client.submit(bytes, path.read_bytes(), workers=allowed,
                                                       allow_other_workers=False))
            return sent[path]

        def collect(future) -> None:
            settings, rd = running.pop(future)
            try:
                outcome = future.result()
                task.within(outcome.files, settings, corpus.size, corpus.K, outcome.worker)
                if RunDir.KEY in outcome.files and \
                        json.loads(outcome.files[RunDir.KEY])["key"] != run_key(settings, corpus):
                    raise RunDirError(f"worker {outcome.worker} made the run under another cache key; "
                                      "nothing it returned was written")
                task.publish(rd, outcome.files)
                if not outcome.error:
                    finished(settings, rd, outcome.seconds, outcome.trained, outcome.worker)
            except Exception as err:            # any failure of one report, or of its worker: the others go on
                fail(settings, task.one_line(err))
            else:
                if outcome.error:
                    fail(settings, outcome.error)
            finally:
                future.release()
            bar.update()

        from distributed import as_completed
        pending = as_completed(loop=client.loop) if client is not None else None
        if client is not None:
            submit_next()
        for settings in here:                   # meanwhile the cluster works
            t0 = time.perf_counter()
            try:
                result = make_report(settings, notebooks=notebooks, log=lambda msg: None, progress=False)
                finished(settings, RunDir(result.run_dir), time.perf_counter() - t0, result.trained, None)
            except task.OURS as err:
                fail(settings, task.one_line(err))
            bar.update()
            for future in pending.next_batch(block=False) if pending is not None and running else []:
                collect(future)
                submit_next()
        for future in pending if running else []:
            collect(future)
            submit_next()
    comparison = None
    if done:
        comparison = write_comparison(reports / f"sweep-{name}", name, info, done, failed, names)
        log(f"comparison of {len(done)} runs: {comparison}")
        sys.modules.setdefault("rfc3987_syntax", None)      # as in make_report: skips a 2-4 s grammar build
        from .export import build_index
        build_index(reports)
    if failed:
        log(f"{len(failed)} of {len(combos)} failed: " + "; ".join(label(p, names) for p, _ in failed))
    return SweepResult(comparison, done, failed)


# -- the comparison -------------------------------------------------------------
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
    sys.modules.setdefault("rfc3987_syntax", None)
    from .export import build_index
    build_index(reports)
    return out


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

    from .plots import draw_curve
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
        shown = [*y[start:][np.isfinite(y[start:])], *(s.heldout_loss_per_char for s in scored
                                                        if s.step >= start)]
        if shown:
            tops.append(max(shown))
            lows.append(min(shown))
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


def _row(rank: int, d: Done, out: Path) -> dict:
    """One row of the ranking: each cell's text, and the number it sorts by (None sorts last)."""
    run, p = d.run, d.settings
    best, final = run.best.smooth_loss, float(run.curve[-1]) if len(run.curve) else math.nan
    scored = [s for s in run.samples if s.heldout_bits_per_char is not None]
    heldout = scored[-1].heldout_bits_per_char if scored else None
    return {"rank": rank, "settings": [(_fmt(getattr(p, n), n), _fmt(p.model, n) if n == "model" else getattr(p, n))
                                       for n in SWEPT],
            "gradients": _gradients(d.check), "diagnosis": d.diagnosis.summary() if d.diagnosis else "—",
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
            "note": f"diverged at step {run.diverged['step']:,}" if run.diverged else
                    f"broke at step {run.broken.step:,}" if run.broken else ""}


def _gradients(check: GradCheck | None) -> str:
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


def write_comparison(out: Path, name: str, corpus: dict, done: list[Done], failed: list[tuple[Settings, str]],
                     names: list[str], command: str = "sweep") -> Path:
    """comparison.html and sweep.json in `out`, each written under a temporary name and renamed; `corpus` is
    the runs' corpus as Corpus.info() gives it, `command` the one that made the page (sweep or compare)."""
    import jinja2
    from markupsafe import Markup

    from .plots import png
    ranked = sorted(done, key=lambda d: (per_char(d), d.report.parent.name))    # ties: not by finishing order
    made_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows = [_row(i, d, out) for i, d in enumerate(ranked, 1)]
    passages = [{"rank": i, "label": label(d.settings, names), "step": f"{d.run.best.step:,}",
                 "loss": number(d.run.best.smooth_loss), "char": number(per_char(d), ".3f"),
                 "text": Markup(render.escape(d.run.best.text))} for i, d in enumerate(ranked, 1)]
    passages, others = passages[:HIGHLIGHT], passages[HIGHLIGHT:]
    lengths = sorted({(d.settings.epochs is not None, d.settings.epochs or d.settings.steps) for d in done})
    length = " and ".join(f"{n:,} {'epochs' if epochs else 'steps'}" for epochs, n in lengths)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
                             autoescape=True)
    page = env.get_template("sweep-comparison.html.j2").render(
        name=name, command=command, corpus=corpus["name"], grid=" × ".join(
            f"{meta(n).symbol} {', '.join(_fmt(v, n) for v in sorted({getattr(d.settings, n) for d in done}, key=str))}"
            for n in names),
        length=length, runs=len(done), rows=rows, passages=passages, others=others, made_at=made_at[:16].replace("T", " "),
        failed=[{"label": label(p, names), "error": e, "settings": [(_fmt(getattr(p, n), n), getattr(p, n)) for n in SWEPT]}
                for p, e in failed],
        png=base64.b64encode(png(figure(ranked, names))).decode("ascii"), columns=[meta(n).symbol for n in SWEPT],
        models=any(d.settings.model is not None for d in done) or any(p.model is not None for p, _ in failed),
        confinement=confinement(done))
    record = {"name": name, "command": command, "made_at": made_at, "corpus": {"name": corpus["name"], "sha256": corpus["sha256"]},
              "swept": names,
              "runs": [{"dir": r["dir"], "label": label(d.settings, names), "params": d.settings.numbers(),
                        "model": d.run.model,
                        "gradients": r["gradients"], "diagnosis": r["diagnosis"],
                        "min_smooth_loss": _finite(d.run.best.smooth_loss),
                        "min_loss_per_char": _finite(per_char(d))} for r, d in zip(rows, ranked)],
              "failed": [{"params": p.numbers(), "model": p.model, "error": e} for p, e in failed]}
    claim(out)
    atomic_write(out / COMPARISON, lambda fh: fh.write(page.encode("utf-8")))
    text = json.dumps(record, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    atomic_write(out / RECORD, lambda fh: fh.write(text.encode("utf-8")))
    return out / COMPARISON
