"""The report pipeline: parameters -> run directory -> train once -> notebooks -> report.html -> index.

`make_report` validates everything before any notebook runs, trains in this
process (with its progress bar) unless the report directory already holds a
run with the same cache key, executes the four notebooks with papermill, and
exports them as one self-contained HTML file.  The notebooks call
`ensure_run`, which loads that run, or trains the small run their parameters
describe when they are run on their own.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock

from . import __version__
from .corpus import Corpus, load_corpus
from .execute import CELL_TIMEOUT, NOTEBOOKS, START_TIMEOUT, NotebookFailed, execute, notebook_dir
from .gradcheck import GradCheck, Row, gradcheck
from .iorw import DAMAGED, atomic_write
from .rundir import RunDirError, load_run, run_name, save_run
from .train import CHECKPOINT, CheckpointError, Config, ConfigError, Run, Trainer

KEY, GRADCHECK, REPORT, FAILED = "key.json", "gradcheck.json", "report.html", "failed"
PDF = "report.pdf"
FORMATS = ("html", "pdf")      # report.html is always written (the index links it); pdf adds report.pdf beside it


class ReportError(Exception):
    """A report that could not be made; the message is one line for the user."""


@dataclass(frozen=True)
class Params:
    """The notebooks' parameters (lower-cased), with the report's defaults."""
    eta: float = 0.1
    seq: int = 25
    m: int = 100
    sigma: float = 0.01
    steps: int | None = 100_000
    epochs: int | None = None
    seed: int = 1
    data: str | None = None
    sample_every: int = 10_000
    sample_until: int | None = 100_000
    sample_len: int = 200
    best_len: int = 1_000
    grad_m: int = 5

    def __post_init__(self):
        if self.data is not None:       # notebooks run in another directory
            object.__setattr__(self, "data", str(Path(self.data).expanduser().absolute()))
        if isinstance(self.grad_m, bool) or not isinstance(self.grad_m, int) or self.grad_m < 1:
            raise ConfigError(f"grad_m must be an integer >= 1, got {self.grad_m!r}")

    def config(self) -> Config:
        return Config(eta=self.eta, seq_length=self.seq, m=self.m, sigma=self.sigma,
                      steps=None if self.epochs is not None else self.steps, epochs=self.epochs,
                      seed=self.seed, sample_every=self.sample_every, sample_until=self.sample_until,
                      sample_len=self.sample_len, best_len=self.best_len)

    def notebook_parameters(self, run_dir: Path) -> dict:
        """The values papermill injects: ETA, SEQ, ..., RUN_DIR."""
        return {**{f.name.upper(): getattr(self, f.name) for f in fields(self)}, "RUN_DIR": str(run_dir)}


@dataclass
class Cached:
    """What a report directory holds: the run, its gradient check and when it was trained."""
    run: Run
    check: GradCheck
    run_dir: Path
    trained_at: str
    trained_now: bool


# -- the cache ----------------------------------------------------------------
def cache_key(params: Params, corpus_sha256: str) -> dict:
    """Every setting that changes the numbers: the whole Config, GRAD_M and the corpus."""
    return {"labrnn": __version__, "numerics": numerics_fingerprint(), "config": asdict(params.config()),
            "grad_m": params.grad_m,
            "corpus_sha256": corpus_sha256}


@functools.cache
def numerics_fingerprint() -> str:
    """A hash of the modules that make a run's numbers, so a cached run never outlives the code that made it."""
    digest = hashlib.sha256()
    for name in ("corpus", "model", "kernels", "train", "sample", "evaluate", "gradcheck"):
        digest.update((Path(__file__).parent / f"{name}.py").read_bytes())
    return digest.hexdigest()[:16]


def _data_stamp(data: str | None) -> list | None:
    """Size and mtime of the corpus file: a cheap stand-in for its sha256 inside one pipeline."""
    if data is None:
        return None
    try:
        st = os.stat(data)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def dir_name(params: Params, corpus: Corpus) -> str:
    """run_name plus every setting outside it that differs from the report's defaults."""
    config = params.config()
    short = {"sample_every": "se", "sample_until": "su", "sample_len": "sl", "best_len": "bl"}
    in_name = {"eta", "seq_length", "m", "sigma", "steps", "epochs", "seed"}
    ref = asdict(Params().config())
    extra = [f"{short.get(k, k)}{_fmt(v)}" for k, v in asdict(config).items()
             if k not in in_name and v != ref.get(k)]
    if params.grad_m != Params.grad_m:
        extra.append(f"gm{params.grad_m}")
    return "_".join([run_name(config, corpus.info()), *extra])


def _fmt(value) -> str:
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value).lower()


def _read_key(run_dir: Path) -> dict | None:
    """The stored key.json, or None when it is missing or damaged (then the run is made again)."""
    try:
        stored = json.loads((run_dir / KEY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    fields_ok = isinstance(stored, dict) and {"key", "data", "data_stamp", "trained_at"} <= stored.keys()
    return stored if fields_ok and isinstance(stored["key"], dict) else None


def _matches(stored: dict | None, params: Params, corpus: Corpus | None) -> bool:
    """With the corpus: compare the full key.  Without: trust the stored sha256 while the file is unchanged."""
    if not stored:
        return False
    if corpus is not None:
        return stored["key"] == cache_key(params, corpus.sha256)
    return (stored["key"] == cache_key(params, stored["key"].get("corpus_sha256"))
            and stored["data"] == params.data and stored["data_stamp"] == _data_stamp(params.data))


def _load_cached(run_dir: Path, stored: dict) -> Cached:
    run = load_run(run_dir)
    gc = json.loads((run_dir / GRADCHECK).read_text(encoding="utf-8"))
    rows = tuple(Row(r["name"], r["max_rel"], r["mean_rel"], r["max_abs"], r["mean_abs"]) for r in gc["rows"])
    check = GradCheck(rows, gc["m"], gc["seq_length"], gc["h"], gc["seed"])
    return Cached(run, check, run_dir, stored["trained_at"], trained_now=False)


def load_checked(params: Params) -> Corpus:
    """The corpus, checked against the parameters; CorpusError or ConfigError names the problem."""
    config = params.config()
    corpus = load_corpus(params.data)
    config.check_corpus(corpus)
    return corpus


def ensure_run(params: Params, run_dir: str | Path | None = None, *, corpus: Corpus | None = None,
               force: bool = False, resume: bool = False, progress: bool = False) -> Cached:
    """The run and gradient check that `params` describe: loaded from run_dir, or made and saved there.

    Training writes checkpoints into run_dir; a run that was interrupted (or
    killed) is continued with resume=True or started again with force=True,
    and refused otherwise, so an afternoon of training is never thrown away
    silently.  Without run_dir, the run lives under the system's temporary
    directory, so a notebook opened on its own (or by nbval) shares its run
    with the others.
    """
    if run_dir is None:
        corpus = corpus or load_checked(params)
        run_dir = Path(tempfile.gettempdir()) / "labrnn-notebooks" / dir_name(params, corpus)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(run_dir / ".lock"):          # a second report with the same key waits, then reuses
        stored = _read_key(run_dir)
        if not force and _matches(stored, params, corpus):
            try:
                return _load_cached(run_dir, stored)
            except (RunDirError, *DAMAGED):
                print(f"labrnn: the cached run in {run_dir} is damaged; training it again", file=sys.stderr)
        corpus = corpus or load_checked(params)
        (run_dir / KEY).unlink(missing_ok=True)     # the key goes last: no key, no trusted run
        trainer = _trainer(params, run_dir, corpus, force, resume)
        check = gradcheck(corpus, m=params.grad_m, seq_length=params.seq, seed=params.seed)
        run = trainer.run(progress=progress, out=run_dir)
        save_run(run, run_dir)
        if run.interrupted:
            raise ReportError(f"training was interrupted at step {run.steps_done:,} and checkpointed in "
                              f"{run_dir}; no report written. Add RESUME=1 (--resume) to continue it")
        _write_json(run_dir / GRADCHECK, check.to_dict())
        trained_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        _write_json(run_dir / KEY, {"key": cache_key(params, corpus.sha256), "data": params.data,
                                    "data_stamp": _data_stamp(params.data), "trained_at": trained_at})
    return Cached(run, check, run_dir, trained_at, trained_now=True)


def _unfinished(run_dir: Path, corpus: Corpus) -> bool:
    """Whether the checkpoint in run_dir is of training that stopped before its end."""
    try:
        return not Trainer.resume(run_dir, corpus).finished
    except (CheckpointError, ConfigError, *DAMAGED):
        return False                     # damaged or of another corpus: nothing worth resuming


def _trainer(params: Params, run_dir: Path, corpus: Corpus, force: bool, resume: bool) -> Trainer:
    """A fresh trainer, or the one the checkpoint in run_dir left, as the user asked."""
    has_checkpoint = (run_dir / CHECKPOINT).exists()
    if resume and not force:
        if not has_checkpoint:
            raise ReportError(f"RESUME=1, but {run_dir} holds no checkpoint to resume; "
                              "drop RESUME=1 to start the run")
        try:
            trainer = Trainer.resume(run_dir, corpus)
        except CheckpointError as err:
            raise ReportError(f"{err}; FORCE=1 starts the run again") from None
        if trainer.config != params.config():
            raise ReportError(f"the checkpoint in {run_dir} is of other settings; FORCE=1 starts again")
        print(f"labrnn: resuming the run in {run_dir} at step {trainer.step:,} of {trainer.total:,}",
              file=sys.stderr)
        return trainer
    if has_checkpoint and not force and _unfinished(run_dir, corpus):
        step = Trainer.read_meta(run_dir)["step"]
        raise ReportError(f"the run in {run_dir} was interrupted at step {step:,}: add RESUME=1 to continue it, "
                          "or FORCE=1 to start it again")
    for stale in (CHECKPOINT, "run.json", "run.npz", GRADCHECK):
        (run_dir / stale).unlink(missing_ok=True)
    return Trainer(corpus, params.config())


def _write_json(path: Path, doc: dict) -> None:
    text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


# -- the pipeline ---------------------------------------------------------------
def make_report(params: Params, reports: str | Path = "reports", *, run_dir: str | Path | None = None,
                force: bool = False, resume: bool = False, formats: tuple[str, ...] = ("html",),
                notebooks: Path | None = None, start_timeout: int = START_TIMEOUT, cell_timeout: int = CELL_TIMEOUT,
                log=lambda msg: print(msg, file=sys.stderr), progress: bool = True) -> Path:
    """Everything `make report` does; returns the path of report.html.

    The report goes to reports/<dir_name>, or to run_dir when given (the index
    is then rebuilt in its parent).  Bad input raises ConfigError, CorpusError
    or ReportError before any notebook runs.
    """
    t_start = time.perf_counter()
    # jsonschema, which nbformat imports, compiles the optional rfc3987-syntax grammars at import (~2 s);
    # notebook validation never checks IRI formats, so this process goes without that checker.
    sys.modules.setdefault("rfc3987_syntax", None)
    from .export import build_index, export_html
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ReportError(f"unknown FORMAT {' '.join(unknown)!r}; available: {', '.join(FORMATS)}")
    notebooks = Path(notebooks or notebook_dir())
    missing = [n for n in NOTEBOOKS if not (Path(notebooks) / n).is_file()]
    if missing:
        raise ReportError(f"notebook {missing[0]} not found in {notebooks}")
    corpus = load_checked(params)
    t_corpus = time.perf_counter() - t_start
    run_dir = Path(run_dir or Path(reports) / dir_name(params, corpus)).absolute()
    reports = run_dir.parent
    log(f"corpus: {corpus.name}, {corpus.size:,} characters, K = {corpus.K}; report directory {run_dir}")
    t0 = time.perf_counter()
    cached = ensure_run(params, run_dir, corpus=corpus, force=force, resume=resume, progress=progress)
    t_run = time.perf_counter() - t0
    run = cached.run
    if not cached.trained_now:
        log(f"reusing the run trained {cached.trained_at} (FORCE=1 trains again)")
    if run.diverged:
        log(f"training diverged at step {run.diverged['step']:,}: {run.diverged['reason']}; "
            "the report says so and shows the samples and best model from before it")

    _remove_orphan_builds(run_dir)
    build = Path(tempfile.mkdtemp(dir=run_dir, prefix=f".build-{os.getpid()}-"))
    try:
        t0 = time.perf_counter()
        times = execute(notebooks, build, params.notebook_parameters(run_dir), run_dir,
                        start_timeout=start_timeout, cell_timeout=cell_timeout)
        t_notebooks = time.perf_counter() - t0
        t0 = time.perf_counter()
        title = (f"{corpus.name}: η = {params.eta:g}, seq_length = {params.seq}, m = {params.m}, "
                 f"{run.steps_done:,} steps")
        export_html([build / n for n in NOTEBOOKS], build / REPORT, title)
        for name in NOTEBOOKS:
            os.replace(build / name, run_dir / name)
        os.replace(build / REPORT, run_dir / REPORT)
        t_export = time.perf_counter() - t0
    except NotebookFailed as err:
        failed = run_dir / FAILED
        shutil.rmtree(failed, ignore_errors=True)
        os.replace(build, failed)
        partial = failed / err.name
        raise ReportError(f"notebook {err.name} failed: {err.detail}; no report written; "
                          f"partly executed notebook: {partial if partial.exists() else '(none)'}") from None
    finally:
        shutil.rmtree(build, ignore_errors=True)
    shutil.rmtree(run_dir / FAILED, ignore_errors=True)
    pdf_part, pdf_error = "", None
    if "pdf" in formats:
        t0 = time.perf_counter()
        pdf_error = make_pdf(run_dir, title)
        pdf_part = f"pdf {time.perf_counter() - t0:.1f} s, "
    else:
        (run_dir / PDF).unlink(missing_ok=True)      # an older render's PDF would no longer match report.html
    t0 = time.perf_counter()
    build_index(reports)
    t_index = time.perf_counter() - t0

    if cached.trained_now:
        run_part = (f"gradient check and saving {t_run - run.wall_seconds:.1f} s, training {run.train_seconds:.1f} s, "
                    f"sampling {run.wall_seconds - run.train_seconds:.1f} s")
    else:
        run_part = f"loading the cached run {t_run:.1f} s"
    per_nb = ", ".join(f"{n.split('-')[0]}: {s:.1f}" for n, s in times)
    log(f"time: corpus {t_corpus:.1f} s, {run_part}, notebooks {t_notebooks:.1f} s ({per_nb}), "
        f"export {t_export:.1f} s, {pdf_part}index {t_index:.1f} s; total {time.perf_counter() - t_start:.1f} s")
    if pdf_error:
        raise ReportError(f"{pdf_error}; {run_dir / REPORT} was written")
    return run_dir / REPORT


def _remove_orphan_builds(run_dir: Path) -> None:
    """Staging directories left by a killed process (its pid is in the name); a live one's are kept."""
    for build in run_dir.glob(".build-*"):
        pid = build.name.split("-")[1]
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(build, ignore_errors=True)
        except PermissionError:
            pass                                   # alive, another user's


def make_pdf(run_dir: Path, title: str) -> str | None:
    """report.pdf from the executed notebooks in run_dir; why not, when it could not be made."""
    from .pdf import PdfError, export_pdf
    try:
        export_pdf([run_dir / n for n in NOTEBOOKS], run_dir / PDF, title)
    except PdfError as err:
        return str(err)
    return None
