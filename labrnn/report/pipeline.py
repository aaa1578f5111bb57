"""The report pipeline: settings -> corpus -> model file -> run (trained once) -> notebooks -> report.html -> index.

`make_report` is a straight sequence of named steps, each timed; bad input
raises ConfigError, CorpusError, ModelError or ReportError before any notebook runs, and
the report is built in a staging directory and renamed into place, so a failed
render leaves the previous report as it was.
"""
from __future__ import annotations

import shutil
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from labrnn.report import handin
from labrnn.report.checks import load_checked
from labrnn.report.execute import NotebookFailed, execute, kernel, notebook_dir
from labrnn.report.run import ReportError, ensure_run
from labrnn.report.rundir import MARK, RunDir, owned
from labrnn.rnn.train import Run
from labrnn.settings import Settings
from labrnn.student.sandbox import ModelError, opened, read_model


@dataclass
class ReportResult:
    """What a report made: where it is, whether it trained, and how long each step took."""
    report: Path
    run: Run
    trained: bool
    pdf: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    per_notebook: list[tuple[str, float]] = field(default_factory=list)

    @property
    def run_dir(self) -> Path:
        return self.report.parent


class _Timer(dict):
    @contextmanager
    def __call__(self, step: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self[step] = time.perf_counter() - t0


def make_report(settings: Settings, *, notebooks: Path | None = None, progress: bool = True,
                log=lambda msg: print(msg, file=sys.stderr)) -> ReportResult:
    """Everything `make report` does: the report goes to settings.run_dir or REPORTS/<name>, the index to
    its parent."""
    timer, t_start = _Timer(), time.perf_counter()
    _skip_iri_grammar()
    notebooks = _find_notebooks(notebooks)
    hand = handin.of(settings)          # their text checked before anything runs
    model_file = read_model(settings.model)     # their file, read once at the boundary
    with timer("corpus"):
        corpus = load_checked(settings)
    with ExitStack() as rendering:
        with ExitStack() as stack:
            with timer("model"):            # their file imported and called once in its child
                sandbox = stack.enter_context(opened(model_file, settings, corpus))
            model_info = model_file and model_file.info()
            rd = RunDir(Path(settings.run_dir or Path(settings.reports) / settings.name(corpus.info(), model_info))
                        .absolute())
            made = [p for p in (rd.path, *rd.path.parents) if not p.exists()]
            rd.make()
            settings = replace(settings, run_dir=str(rd))
            log(f"corpus: {corpus.name}, {corpus.size:,} characters, K = {corpus.K}; "
                f"{f'model {model_file.name}; ' if model_file else ''}report directory {rd}")
            km = rendering.enter_context(kernel(rd.path))      # it starts up while the run trains
            try:
                with timer("run"):
                    cached = ensure_run(settings, corpus, progress=progress, model_file=model_file, sandbox=sandbox)
            except ModelError:
                _drop_if_empty(made)
                raise
        _say_how_the_run_went(cached, log)
        title = (f"{corpus.name}{f' · {model_file.name}' if model_file else ''}: η = {settings.eta:g}, "
                 f"seq_length = {settings.seq_length}, m = {settings.m}, {cached.run.steps_done:,} steps")
        extend = partial(handin.insert, handin=replace(hand, model_file=model_file), run=cached.run)
        per_notebook = _render(notebooks, rd, settings, km, title, timer, extend)
        handin.write_record(rd.path, hand)
    pdf_error = None
    if "pdf" in settings.format:
        with timer("pdf"):
            pdf_error = make_pdf(rd, title, extend)
    else:
        rd.remove(RunDir.PDF)           # an older render's PDF would no longer match report.html
    with timer("index"):
        _index(rd.path.parent, log)
    result = ReportResult(rd / RunDir.REPORT, cached.run, cached.trained_now,
                          None if pdf_error or "pdf" not in settings.format else rd / RunDir.PDF,
                          dict(timer), per_notebook)
    log(_timing_line(result, time.perf_counter() - t_start))
    if pdf_error:
        raise ReportError(f"{pdf_error}; {result.report} was written")
    return result


def _render(notebooks: Path, rd: RunDir, settings: Settings, km, title: str, timer, extend) -> list:
    """The notebooks executed and exported in a staging directory, then published into rd; the seconds each
    notebook took."""
    build = rd.staging()
    try:
        with timer("notebooks"):
            per_notebook = _execute(notebooks, build, settings, rd, km)
        with timer("export"):
            _export_html(build, title, extend)
        rd.publish(build, [*RunDir.NOTEBOOKS, RunDir.REPORT])
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return per_notebook


def _index(reports: Path, log) -> None:
    """The index beside the report, in a directory labrnn made (or adopted) only."""
    from labrnn.report.export import build_index
    if owned(reports):
        build_index(reports)
    else:
        log(f"no index.html written in {reports}: labrnn did not make that directory")


def _drop_if_empty(made: list[Path]) -> None:
    """Remove the directories this report made (the run's, and parents), when their model failed before
    anything was written in them."""
    for path in made:                          # the run directory first, then its parents
        if {p.name for p in path.iterdir()} <= {MARK, RunDir.LOCK}:
            shutil.rmtree(path, ignore_errors=True)


def _skip_iri_grammar() -> None:
    """jsonschema, which nbformat imports, compiles the optional rfc3987-syntax grammars at import (~2 s);
    notebook validation never checks IRI formats, so this process goes without that checker."""
    sys.modules.setdefault("rfc3987_syntax", None)


def _find_notebooks(notebooks: Path | None) -> Path:
    notebooks = Path(notebooks or notebook_dir())
    missing = [n for n in RunDir.NOTEBOOKS if not (notebooks / n).is_file()]
    if missing:
        raise ReportError(f"notebook {missing[0]} not found in {notebooks}")
    return notebooks


def _say_how_the_run_went(cached, log) -> None:
    run = cached.run
    if not cached.trained_now:
        log(f"reusing the run trained {cached.trained_at} (FORCE=1 trains again)")
    failing = [r.name for r in cached.check.rows if not r.passed]
    if failing or (cached.diagnosis is not None and not cached.diagnosis.ok):
        verdict = f"the gradient check FAILED for {' '.join(failing)}" if failing else "the gradient check passed"
        against = "" if cached.diagnosis is None or cached.diagnosis.ok else \
            f", and the model differs from labrnn's reference ({cached.diagnosis.summary()})"
        log(f"labrnn: warning: {verdict}{against}; the report's Tables 1 and 1b say where "
            "(labrnn gradcheck --model FILE prints them)")
    if run.diverged:
        log(f"training diverged at step {run.diverged['step']:,}: {run.diverged['reason']}; "
            "the report says so and shows the samples and best model from before it")
    if run.broken:
        log(f"training stopped at step {run.broken.step:,}, where the model failed:\n{run.broken.message}\n"
            "the report says so and shows what was reached before it")


def _execute(notebooks: Path, build: Path, settings: Settings, rd: RunDir, km) -> list[tuple[str, float]]:
    try:
        return execute(notebooks, build, {"run_dir": str(rd)}, rd.path, km=km,
                       start_timeout=settings.start_timeout, cell_timeout=settings.cell_timeout)
    except NotebookFailed as err:
        failed = rd.keep_failed(build)
        partial = failed / err.name
        raise ReportError(f"notebook {err.name} failed: {err.detail}; no report written; "
                          f"partly executed notebook: {partial if partial.exists() else '(none)'}") from None


def _export_html(build: Path, title: str, extend=None) -> None:
    from labrnn.report.export import export_html
    export_html([build / n for n in RunDir.NOTEBOOKS], build / RunDir.REPORT, title, extend)


def make_pdf(rd: RunDir, title: str, extend=None) -> str | None:
    """report.pdf from the executed notebooks in rd (`extend`: the hand-in's parts); why not, when it could not
    be made."""
    from labrnn.report.pdf import PdfError, export_pdf
    try:
        export_pdf([rd / n for n in RunDir.NOTEBOOKS], rd / RunDir.PDF, title, extend)
    except PdfError as err:
        return str(err)
    return None


def _timing_line(result: ReportResult, total: float) -> str:
    t, run = result.timings, result.run
    if result.trained:
        compiled = f"compiling {run.compile_seconds:.1f} s, " if run.compile_seconds else ""
        setup = max(0.0, t['run'] - run.wall_seconds - run.compile_seconds)      # a resumed run's wall time is older
        run_part = (f"gradient check, diagnosis and saving {setup:.1f} s, "
                    f"{compiled}updating {run.train_seconds:.1f} s, sampling {run.sample_seconds:.1f} s, "
                    f"scoring {run.eval_seconds:.1f} s")
    else:
        run_part = f"loading the cached run {t['run']:.1f} s"
    per_nb = ", ".join(f"{n.split('-')[0]}: {s:.1f}" for n, s in result.per_notebook)
    pdf_part = f"pdf {t['pdf']:.1f} s, " if "pdf" in t else ""
    model_part = f"starting and checking the model {t['model']:.1f} s, " if run.model else ""
    return (f"time: corpus {t['corpus']:.1f} s, {model_part}{run_part}, notebooks {t['notebooks']:.1f} s ({per_nb}), "
            f"export {t['export']:.1f} s, {pdf_part}index {t['index']:.1f} s; total {total:.1f} s")
