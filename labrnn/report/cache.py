"""What a cache is: the key of a run, whether a run directory's stored key is that key, and the key saved last.

The key is every setting that changes the numbers, the corpus's sha256, the sha256 of the model file when
there is one (as read once: `labrnn.student.sandbox.ModelFile`), and a fingerprint of the code that computes them.
`reuse` opens a run directory whose key matches (`labrnn.report.run` makes the run otherwise), and `save` writes a
run's gradient check and diagnosis beside it, then its key.
"""
from __future__ import annotations

import functools
import hashlib
import os
import sys
from datetime import datetime, timezone

from labrnn.iorw import DAMAGED
from labrnn.layout import PACKAGE
from labrnn.report.rundir import Cached, Key, RunDir, RunDirError, open_run
from labrnn.rnn.corpus import Corpus
from labrnn.rnn.gradcheck import GradCheck
from labrnn.rnn.train import Run
from labrnn.settings import Settings
from labrnn.student.diagnose import Diagnosis, with_training
from labrnn.student.sandbox import ModelFile, read_model
from labrnn.version import __version__


@functools.cache
def numerics_fingerprint() -> str:
    """A hash of the modules that make a run's numbers, so a cached run never outlives the code that made it."""
    digest = hashlib.sha256()
    for name in ("rnn/corpus", "rnn/model", "rnn/engines", "rnn/kernels", "rnn/train", "rnn/sample", "rnn/evaluate",
                 "rnn/gradcheck", "rnn/limits", "student/diagnose", "student/grading", "student/sandbox",
                 "student/child"):
        digest.update(name.encode() + b"\0" + (PACKAGE / f"{name}.py").read_bytes())
    return digest.hexdigest()[:16]


def cache_key(settings: Settings, corpus_sha256: str, model_sha256: str | None = None) -> dict:
    return {"labrnn": __version__, "numerics": numerics_fingerprint(), "settings": settings.numbers(),
            "corpus_sha256": corpus_sha256, "model_sha256": model_sha256}


def run_key(settings: Settings, corpus: Corpus, model_file: ModelFile | None = None) -> dict:
    """The key of the run `settings` describe on `corpus`, the model file's content included (read from
    settings.model unless `model_file` is that file as read)."""
    model_file = model_file or read_model(settings.model)
    return cache_key(settings, corpus.sha256, model_file and model_file.sha256)


def _data_stamp(data: str | None) -> list | None:
    """Size and mtime of the corpus file now: a cheap stand-in for its sha256 (see Corpus.stamp)."""
    if data is None:
        return None
    try:
        st = os.stat(data)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def matches(stored: Key | None, settings: Settings, corpus: Corpus | None, model_file: ModelFile | None) -> bool:
    """Whether a stored key is the run's.  With the corpus: compare the full key.  Without: trust the stored
    sha256 while the corpus file is unchanged."""
    if stored is None:
        return False
    model_sha256 = model_file and model_file.sha256
    if corpus is not None:
        return stored.key == cache_key(settings, corpus.sha256, model_sha256)
    return (stored.key == cache_key(settings, stored.key.get("corpus_sha256"), model_sha256)
            and stored.data == settings.data and stored.data_stamp == _data_stamp(settings.data))


def reuse(rd: RunDir, settings: Settings, corpus: Corpus | None, model_file: ModelFile | None) -> Cached | None:
    """The complete run in rd when its key is the one `settings` describe and force is off; None when it has
    to be made (a damaged one is said so)."""
    if settings.force or not matches(rd.read_key(), settings, corpus, model_file):
        return None
    try:
        return open_run(rd)
    except (RunDirError, *DAMAGED):
        print(f"labrnn: the cached run in {rd} is damaged; training it again", file=sys.stderr)
        return None


def save(rd: RunDir, settings: Settings, corpus: Corpus, model_file: ModelFile | None, run: Run,
         check: GradCheck, diagnosis: Diagnosis) -> Cached:
    """The gradient check and the diagnosis (with what training compared) beside the run, then its key."""
    key = cache_key(settings, corpus.sha256, model_file and model_file.sha256)
    diagnosis = with_training(diagnosis, run.grading)       # their model: what training compared
    rd.save_gradcheck(check, diagnosis)
    trained_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    stamp = list(corpus.stamp) if corpus.stamp else None       # the file as it was read, not as it is now
    rd.save_key(Key(key, settings.data, stamp, trained_at))
    return Cached(run, check, rd, trained_at, trained_now=True, diagnosis=diagnosis)
