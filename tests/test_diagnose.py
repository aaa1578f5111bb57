"""The diagnosis of a student's loss_and_grads: each broken file in tests/models gets its mistake named, a correct
implementation gets none, and what no known mistake explains is located in rows, columns and time steps."""
import importlib
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from labrnn.student import diagnose as dg
from labrnn.rnn import model, reference
from labrnn.rnn.corpus import Corpus
from labrnn.student.diagnose import ITEMS, MISTAKES, Diagnosis, diagnose
from labrnn.rnn.model import NAMES

gc = importlib.import_module("labrnn.rnn.gradcheck")      # the module, not the function
pytestmark = pytest.mark.fast
M, T = 4, 10
MODELS = Path(__file__).parent / "models"
GRADS = set(NAMES)


@pytest.fixture(scope="module")
def corpus(genesis_text):
    return Corpus(genesis_text, "genesis")


def student(name):
    """A broken student file's loss_and_grads, loaded in-process (only the tests do this)."""
    spec = importlib.util.spec_from_file_location(f"mistake_{name}", MODELS / f"mistake_{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.loss_and_grads


def run(corpus, fn, check=None, **kw):
    return diagnose(fn, corpus.data, corpus.K, m=M, seq_length=T, check=check, **kw)


def check_of(corpus, fn):
    return gc.gradcheck(corpus, m=M, seq_length=T, loss_and_grads=fn)


@pytest.mark.parametrize("fn", [model.loss_and_grads, reference.loss_and_grads], ids=["model", "reference"])
def test_a_correct_implementation_matches_everywhere(corpus, fn):
    d = run(corpus, fn, check=check_of(corpus, fn))
    assert d.ok and d.findings == () and d.summary() == "correct"
    assert [(r.probe, r.name) for r in d.comparison] == [(p, k) for p in dg.PROBES for k in ITEMS]
    assert all(r.matches and r.max_rel <= dg.TOL for r in d.comparison)


def test_the_diagnosis_compares_with_the_backward_pass_training_uses(corpus):
    """The known mistakes are switches of labrnn.rnn.model.backward, the very pass loss_and_grads runs: each record's
    switch exists there and changes what the record says it affects, and nothing else."""
    x, y = corpus.data[:T].astype(int), corpus.data[1:T + 1].astype(int)
    probe = dg.probes(corpus.data, corpus.K, M, T).points[2]      # large weights: h0 reaches h_last
    lab = dg._outputs(*model.loss_and_grads(probe.params, x, y, probe.h0))
    switched = [r for r in dg.RECORDS if r.switch]
    assert switched and {r.switch[0] for r in switched} == set(dg.SWITCHES)
    for r in switched:
        mine = dg._outputs(*model.backward(probe.params, x, y, probe.h0, **dict([r.switch])))
        changed = {k for k in ITEMS if dg.rel(mine[k], lab[k]) > dg.TOL}
        assert {"grads" if k in GRADS else k for k in changed} == set(r.affects), r.name


def test_the_probes_reach_beyond_the_clip_bound_and_start_where_the_check_does(corpus):
    x, y = corpus.data[:T].astype(int), corpus.data[1:T + 1].astype(int)
    start, h0, large = dg.probes(corpus.data, corpus.K, M, T, seed=1, clip=5.0).points
    lab = model.init_params(corpus.K, M, 0.01, np.random.default_rng(1))     # the gradient check's parameters
    assert all(np.array_equal(start.params[k], lab[k]) for k in NAMES) and not start.h0.any()
    assert h0.params is start.params and np.abs(h0.h0).min() > 0
    _, grads, _ = model.loss_and_grads(large.params, x, y, large.h0)
    assert max(np.abs(g).max() for g in grads.values()) > 5.0


# mistake file, the mistake id, the items it names; each file has that one mistake and gets that one finding
ONE = [
    ("transposed", "transposed", {"W"}),
    ("sign", "sign", GRADS),
    ("factor2", "factor", GRADS),
    ("no_bptt", "no_bptt", {"W", "U", "b"}),
    ("tanh_missing", "tanh_missing", {"W", "U", "b"}),
    ("tanh_prev", "tanh_prev", {"W", "U", "b"}),
    ("h0_ignored", "h0_ignored", set(ITEMS)),
    ("loss_mean", "loss_mean", {"loss"} | GRADS),
    ("loss_mean_only", "loss_mean", {"loss"}),
    ("log2", "loss_log2", {"loss"}),
    ("log10", "loss_log10", {"loss"} | GRADS),
    ("input_target", "loss_input", {"loss"}),
    ("raw_scores", "loss_raw", {"loss"}),
    ("no_onehot", "no_onehot", GRADS),
]


@pytest.mark.parametrize("name, mistake, items", ONE, ids=[o[0] for o in ONE])
def test_each_mistake_gets_its_diagnosis(corpus, name, mistake, items):
    d = run(corpus, student(name))
    assert not d.ok
    assert [(f.mistake, set(f.params)) for f in d.findings] == [(mistake, items)]
    assert {r.name for r in d.comparison if not r.matches} == items       # and nothing else differs
    sentence = d.findings[0].sentence
    assert all((k if k in ("loss", "h_last") else f"d{k}") in sentence for k in items)
    assert d.summary() == d.findings[0].short and len(d.summary()) < 30


def test_a_factor_is_named(corpus):
    assert "times 2: drop the factor 2" in run(corpus, student("factor2")).findings[0].sentence
    assert f"divided by seq_length = {T}" in run(corpus, student("loss_mean")).findings[0].sentence


def test_clipping_inside_shows_only_beyond_the_bound(corpus):
    d = run(corpus, student("clipped"))
    [finding] = d.findings
    assert finding.mistake == "clipped" and "clipped to ±5" in finding.sentence
    wrong = {(r.probe, r.name) for r in d.comparison if not r.matches}
    assert wrong and {p for p, _ in wrong} == {"large"}                   # the lab's start never reaches the bound
    assert set(finding.params) == {k for _, k in wrong} <= GRADS


def test_h0_ignored_shows_only_from_a_random_h0(corpus):
    d = run(corpus, student("h0_ignored"))
    assert all(r.matches for r in d.comparison if r.probe == "start")
    assert not any(r.matches for r in d.comparison if r.probe == "h0" and r.name != "h_last")
    # with the lab's small weights h0 fades out of h_T within the sequence; the large weights keep it
    assert not any(r.matches for r in d.comparison if r.probe == "large")


def test_two_mistakes_at_once_are_both_found(corpus):
    d = run(corpus, student("two"))
    assert [(f.mistake, f.params) for f in d.findings] == [("no_bptt", ("W", "U", "b")), ("transposed", ("W",))]
    assert d.summary() == "no BPTT; dW transposed"


def test_a_zeroed_row_is_located(corpus):
    [finding] = run(corpus, student("row_zeroed")).findings
    assert (finding.mistake, finding.params) == ("unexplained", ("W",))
    assert "only in row 0, dW[0, :], where yours is zero" in finding.sentence
    assert "forward pass is right" in finding.sentence and finding.short == "dW row 0 wrong"


def test_a_bug_from_step_3_on_is_located_in_time(corpus):
    [finding] = run(corpus, student("truncated")).findings
    assert (finding.mistake, finding.params) == ("unexplained", ("W", "U", "b"))
    assert "right on sequences of up to 3 characters, wrong from time step t = 3 on" in finding.sentence
    assert finding.short == "dW, dU, db wrong from t = 3"


@pytest.mark.parametrize("name, k, j", [("U", "column", 3), ("V", "row", 2), ("c", "entry", 1)])
def test_one_wrong_column_row_or_entry_is_named(corpus, name, k, j):
    def wrong(params, x, y, h0):
        loss, grads, h = model.loss_and_grads(params, x, y, h0)
        index = {"column": (slice(None), j), "row": (j,), "entry": (j,)}[k]
        grads[name][index] += 0.5
        return loss, grads, h

    [finding] = run(corpus, wrong).findings
    assert finding.params == (name,) and f"only in {k} {j}" in finding.sentence
    assert finding.short == f"d{name} {k} {j} wrong"


@settings(max_examples=15, derandomize=True, deadline=None)
@given(st.floats(0.05, 20).filter(lambda s: min(abs(s - c) for c in (0.5, 1, 2, T, 1 / T)) > 0.01),
       st.sampled_from(NAMES), st.booleans())
def test_any_constant_factor_is_recognized_and_given(corpus, s, name, negative):
    s = -s if negative else s

    def scaled(params, x, y, h0):
        loss, grads, h = model.loss_and_grads(params, x, y, h0)
        return loss, {**grads, name: s * grads[name]}, h

    d = run(corpus, scaled)
    mistakes = {f.mistake: f for f in d.findings}
    assert set(mistakes) == ({"sign", "factor"} if negative else {"factor"})
    assert mistakes["factor"].params == (name,) and f"times {abs(s):.6g}" in mistakes["factor"].sentence


def _with_loss(change):
    def fn(params, x, y, h0):
        loss, grads, h = model.loss_and_grads(params, x, y, h0)
        return change(loss), grads, h
    return fn


def test_a_loss_of_the_wrong_sign_or_otherwise_wrong_is_said_so(corpus):
    likelihood = _with_loss(lambda loss: -loss)
    [finding] = run(corpus, likelihood, check=check_of(corpus, likelihood)).findings
    assert (finding.mistake, finding.params, finding.short) == ("sign", ("loss",), "loss sign wrong")
    assert "negative log-likelihood" in finding.sentence and "fails only because your loss" in finding.sentence
    scaled = run(corpus, _with_loss(lambda loss: 0.7 * loss)).findings
    assert [(f.mistake, f.params, f.short) for f in scaled] == [("factor", ("loss",), "loss × 0.7")]
    [offset] = run(corpus, _with_loss(lambda loss: loss + 1.0)).findings
    assert (offset.mistake, offset.params) == ("unexplained", ("loss",))
    assert "Your loss differs from the lab's by " in offset.sentence
    assert "from the first time step on" in offset.sentence


def test_single_precision_is_told_from_a_mistake(corpus):
    def single(params, x, y, h0):
        return model.loss_and_grads({k: v.astype(np.float32) for k, v in params.items()}, x, y,
                                    h0.astype(np.float32))

    d = run(corpus, single)
    assert [(f.mistake, f.params, f.short) for f in d.findings] == [("precision", ITEMS, "float32 round-off")]
    assert "float64" in d.findings[0].sentence


def test_the_gradient_check_tells_loss_from_back_propagation(corpus):
    consistent = run(corpus, student("loss_mean"), check=check_of(corpus, student("loss_mean")))
    assert "gradient check passes" in consistent.findings[0].sentence
    only_loss = run(corpus, student("loss_mean_only"), check=check_of(corpus, student("loss_mean_only")))
    assert "gradient check fails only because your loss is not" in only_loss.findings[0].sentence
    assert "gradient check" not in run(corpus, student("loss_mean_only")).findings[0].sentence


def test_a_check_of_another_network_is_refused(corpus):
    with pytest.raises(ValueError, match="seq_length = 7"):
        diagnose(model.loss_and_grads, corpus.data, corpus.K, m=M, seq_length=T,
                 check=gc.gradcheck(corpus, m=M, seq_length=7))


def naive(params, x, y, h0):
    """A correct implementation whose softmax is exp(o) / sum exp(o), unshifted, and whose loss is log(p)."""
    W, U, V, b, c = (params[k] for k in NAMES)
    hs, ps = [h0], []
    for t in range(len(x)):
        hs.append(np.tanh(W @ hs[-1] + U[:, x[t]] + b))
        e = np.exp(V @ hs[-1] + c)
        ps.append(e / e.sum())
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    dh_next = np.zeros_like(h0)
    for t in reversed(range(len(x))):
        do = ps[t] - np.eye(len(c))[y[t]]
        da = (V.T @ do + dh_next) * (1 - hs[t + 1] ** 2)
        for k, g in zip(NAMES, (np.outer(da, hs[t]), np.outer(da, np.eye(U.shape[1])[x[t]]), np.outer(do, hs[t + 1]),
                                da, do)):
            grads[k] += g
        dh_next = W.T @ da
    return -sum(np.log(p[t]) for p, t in zip(ps, y)), grads, hs[-1]


@pytest.mark.parametrize("seq_length", [1, 2, T])
def test_the_large_probe_keeps_a_naive_softmax_finite(corpus, seq_length):
    """Large weights make gradients exceed the clip bound, but never scores that overflow exp(o) unshifted."""
    assert diagnose(naive, corpus.data, corpus.K, m=M, seq_length=seq_length).ok


def test_a_sign_on_a_one_character_sequence_is_a_sign(corpus):
    d = diagnose(student("sign"), corpus.data, corpus.K, m=M, seq_length=1)
    assert [(f.mistake, set(f.params)) for f in d.findings] == [("sign", GRADS)]


def test_a_corpus_too_short_is_refused(corpus):
    with pytest.raises(ValueError, match="seq_length \\+ 1 = 11"):
        diagnose(model.loss_and_grads, corpus.data[:10], corpus.K, m=M, seq_length=T)


def test_their_exception_propagates_unchanged(corpus):
    def broken(params, x, y, h0):
        raise ZeroDivisionError("theirs")

    with pytest.raises(ZeroDivisionError, match="theirs"):
        run(corpus, broken)


def test_their_changes_to_its_arguments_do_not_reach_the_probes(corpus):
    def vandal(params, x, y, h0):
        out = model.loss_and_grads(params, x, y, h0)
        for v in params.values():
            v *= 3.0
        h0 += 1.0
        return out

    assert run(corpus, vandal).ok


def test_round_trips_through_json_and_is_deterministic(corpus):
    d = run(corpus, student("two"), check=check_of(corpus, student("two")))
    doc = json.loads(json.dumps(d.to_dict()))
    assert Diagnosis.from_dict(doc) == d and doc["ok"] is False and doc["summary"] == d.summary()
    assert run(corpus, student("two"), check=check_of(corpus, student("two"))) == d
    assert run(corpus, student("two"), seed=2).comparison != d.comparison
    json.dumps(diagnose(student("two"), corpus.data, np.int64(corpus.K), m=np.int64(M), seq_length=np.int64(T),
                        seed=np.int64(1), clip=np.float32(5)).to_dict())           # numpy numbers as arguments
    assert all(f.mistake in MISTAKES for f in d.findings)


def test_the_table_shows_every_comparison_and_every_sentence(corpus):
    d = run(corpus, student("two"))
    table = d.table()
    assert len(re.findall(r"\bDIFF\b", table)) == sum(not r.matches for r in d.comparison) == 9   # W, U, b, 3 probes
    assert all(f.sentence in table for f in d.findings) and "DIFFERS (no BPTT; dW transposed)" in table
    assert "MATCHES (correct)" in run(corpus, model.loss_and_grads).table()


# the gradient check of a student's function

def test_the_built_in_check_is_unchanged_by_the_new_argument(corpus):
    assert gc.gradcheck(corpus, m=M, seq_length=T) == check_of(corpus, model.loss_and_grads)
    assert gc.gradcheck(corpus).passed and check_of(corpus, reference.loss_and_grads).passed


@pytest.mark.parametrize("name, failing", [("transposed", ["W"]), ("no_bptt", ["W", "U", "b"]),
                                           ("factor2", list(NAMES)), ("loss_mean", []),
                                           ("loss_mean_only", list(NAMES)), ("h0_ignored", [])])
def test_the_check_of_a_student_fails_on_the_parameters_concerned(corpus, name, failing):
    """Numerical gradients of their own loss: a consistently averaged loss passes, and ignoring h0 cannot show
    from h0 = 0 (the diagnosis's random h0 is what finds it)."""
    result = check_of(corpus, student(name))
    assert [r.name for r in result.rows if not r.passed] == failing


def test_another_order_of_the_same_sums_matches_at_the_run_size(corpus):
    """At m = 100 the large probe's weights amplify round-off from step to step: a correct loop that sums in
    another order than labrnn's lands ~1e-8 away, beyond TOL; labrnn.student.diagnose.tolerance allows that much, and a
    mistake still differs by far more."""
    spec = importlib.util.spec_from_file_location("loop_rnn", MODELS / "loop_rnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    d = diagnose(module.loss_and_grads, corpus.data, corpus.K, m=100, seq_length=25)
    assert d.ok and d.summary() == "correct", d.table()
    assert max(r.max_rel for r in d.comparison if r.probe == "large") > dg.TOL     # the case it is for
    wrong = diagnose(student("no_bptt"), corpus.data, corpus.K, m=100, seq_length=25)
    assert not wrong.ok and wrong.summary() == "no BPTT", wrong.summary()
