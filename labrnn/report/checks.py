"""What is checked before a run trains, each once: the corpus against the settings, and the model.

`load_checked` is the corpus a report, a sweep or a notebook trains on, refused with a CorpusError or ConfigError
that names the problem; `check_model` is the gradient check of the model and its comparison with labrnn's
reference, what the first notebook shows, computed before any training starts.
"""
from __future__ import annotations

from labrnn.rnn.corpus import Corpus, load_corpus
from labrnn.rnn.gradcheck import GradCheck, check_at
from labrnn.rnn.model import loss_and_grads as own_loss_and_grads
from labrnn.settings import Settings, check_gradcheck
from labrnn.student.diagnose import Diagnosis, at_run_size, diagnose_at, probes
from labrnn.student.sandbox import Sandbox


def load_checked(settings: Settings, corpus: Corpus | None = None) -> Corpus:
    """The corpus settings.data names (or `corpus`, when it is read already), checked against the settings: a
    run that fits, a gradient check of minutes at most."""
    corpus = corpus or load_corpus(settings.data, keep_cr=settings.keep_cr)
    settings.check_corpus(corpus)
    check_gradcheck(corpus.K, settings.grad_m, settings.seq_length)
    return corpus


def check_model(settings: Settings, corpus: Corpus, sandbox: Sandbox | None = None) -> tuple[GradCheck, Diagnosis]:
    """The gradient check of the model (their sandboxed function, or labrnn's own), and its comparison with
    labrnn's reference on the same small network, from the same seed.  Their function is compared again at the
    run's own m (when it is not grad_m): right only for small networks is found out before training starts.
    The lab's outputs at the probes come first, for each size at once; the check is at the first probe."""
    sizes = [settings.grad_m] + ([settings.m] if sandbox is not None and settings.m != settings.grad_m else [])
    small, *large = [probes(corpus.data, corpus.K, m, settings.seq_length, settings.seed, settings.clip)
                     for m in sizes]
    check = check_at(small.points[0].params, small.x, small.y, settings.grad_h, settings.seed, sandbox)
    diagnosis = diagnose_at(sandbox or own_loss_and_grads, small, check)
    if large:
        diagnosis = at_run_size(diagnosis, diagnose_at(sandbox, large[0]))
    return check, diagnosis
