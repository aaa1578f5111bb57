"""The grader computes every number it grades or ranks: a student's loss and h_last are compared with labrnn's
forward pass at every step, never used; their gradients are compared with the reference's at the run's own m and at
training steps drawn from the seed, so a file right only for small networks, or only at the start, is found out."""
import json
import time
from pathlib import Path

import numpy as np
import pytest

import labrnn
from labrnn.report import cache
from labrnn.student import grading, sandbox
from labrnn.rnn import model
from labrnn.cli import main
from labrnn.report.rundir import open_run
from labrnn.report.checks import check_model
from labrnn.report.run import ensure_run
from labrnn.student.sandbox import read_model
from labrnn.student.diagnose import with_training
from labrnn.student.grading import Grader
from labrnn.rnn.train import Trainer

MODELS = Path(__file__).resolve().parent / "models"


def _ensure(s):
    """The run of a model file, read at the boundary as a report reads it."""
    return ensure_run(s, model_file=read_model(s.model))


@pytest.fixture(scope="module")
def abc(tmp_path_factory):
    """A corpus of K = 4: the gradient check at grad_m = 2 calls a model 53 times, so every check made before
    training falls within cheat_late.py's first 100 calls."""
    path = tmp_path_factory.mktemp("abc") / "abc.txt"
    path.write_text("abc ab ca bca cab " * 60, encoding="utf-8")
    return path


@pytest.fixture
def settings(abc, tmp_path):
    """settings(name, **changes): a 200-step run of tests/models/<name>.py on abc, m = 8, grad_m = 2."""
    def make(name=None, **changes):
        return labrnn.Settings(**{"data": str(abc), "eta": 0.1, "seq_length": 10, "m": 8, "steps": 200,
                                  "sample_every": 100, "sample_until": 200, "sample_len": 40, "best_len": 60,
                                  "grad_m": 2, "run_dir": str(tmp_path / (name or "own")),
                                  "model": name and str(MODELS / f"{name}.py"), **changes})
    return make


def _train(settings, corpus):
    with sandbox.opened(read_model(settings.model), settings, corpus) as their:
        return Trainer(corpus, settings, Grader(their)).run(progress=False)


def test_the_checked_steps_are_drawn_from_the_seed_over_the_whole_run():
    steps = grading.check_steps(1, 100_000)
    assert steps == grading.check_steps(1, 100_000) != grading.check_steps(2, 100_000)
    assert steps[0] == 0 and len(steps) == grading.CHECKS + 1
    eighth = (100_000 - 1) // grading.CHECKS
    assert [(s - 1) // eighth for s in steps[1:]] == list(range(grading.CHECKS))   # one in each eighth of the run
    assert grading.check_steps(1, 1) == [0] and grading.check_steps(1, 3) == [0, 1, 2]


def test_a_made_up_loss_is_replaced_by_labrnns_own_and_reported(settings, abc, tmp_path):
    """cheat_loss.py returns 0.001 as its loss, with right gradients: its curve, minimum and held-out losses are
    labrnn's, number for number those of labrnn's own function, and the mismatch is in run.json and the diagnosis."""
    corpus = labrnn.load_corpus(str(abc))
    own = Trainer(corpus, settings(engine="numpy")).run(progress=False)
    cached = _ensure(settings("cheat_loss"))
    run, record = cached.run, json.loads((tmp_path / "cheat_loss" / "run.json").read_text())
    np.testing.assert_array_equal(run.curve, own.curve)
    assert record["best"]["smooth_loss"] == own.best.smooth_loss > 1                 # not 0.001
    assert record["final_smooth_loss"] == float(own.curve[-1])
    assert [s["heldout_loss_per_char"] for s in record["samples"]] == [s.heldout_loss_per_char for s in own.samples]
    x, y = corpus.data[:10].astype(int), corpus.data[1:11].astype(int)
    first = model.loss(labrnn.init_params(corpus.K, 8, 0.01, np.random.default_rng(1)), x, y, np.zeros(8))
    assert run.curve[0] == first                                                     # step 0: labrnn's loss
    loss = record["grading"]["their_loss"]
    assert loss["differing_steps"] == 200 and loss["first_step"] == 0
    assert loss["first_theirs"] == 0.001 and loss["first_ours"] == first and not record["grading"]["ok"]
    assert record["grading"]["their_h_last"]["differing_steps"] == 0
    diagnosis = json.loads((tmp_path / "cheat_loss" / "gradcheck.json").read_text())["diagnosis"]
    assert not diagnosis["ok"] and diagnosis["summary"] == "loss wrong"
    said = [f["sentence"] for f in diagnosis["findings"] if f["mistake"] == "training"]
    assert said and said[0].startswith("During training your loss differed from labrnn's forward pass on the same "
                                       "parameters, data and h0 at 200 of 200 steps (first at step 0: 0.001 against")
    assert "Every loss this report shows and ranks" in said[0]


def test_right_only_for_small_networks_is_found_out_before_training(settings, abc, capsys):
    """cheat_small_m.py is right while W has at most 5 rows: it passes the gradient check and the comparison at
    grad_m, and fails at the run's m, in the diagnosis, `labrnn gradcheck --model` (exit 1) and in training."""
    s = settings("cheat_small_m")
    corpus = labrnn.load_corpus(str(abc))
    with sandbox.opened(read_model(s.model), s, corpus) as their:
        check, d = check_model(s, corpus, their)
    assert check.passed and all(r.matches for r in d.comparison if not r.probe.startswith("run "))
    assert not d.ok and d.run_m == 8 and d.summary() == "wrong at m = 8 only (no BPTT)"
    assert d.findings[-1].sentence.startswith("Your function matches the reference at the gradient check's m = 2, "
                                              "but not at the run's m = 8, the size it trains at.")
    with sandbox.opened(read_model(s.model), s, corpus) as their:       # a run at m = 5: right, nothing to find
        assert check_model(settings("cheat_small_m", m=5), corpus, their)[1].ok
    assert main(["gradcheck", "--data", str(abc), "--grad-m", "2", "--seq-length", "10", "--model", s.model]) == 1
    out = capsys.readouterr().out                               # labrnn gradcheck: at the lab's m = 100
    assert "gradient check PASSED" in out and "DIFFERS (wrong at m = 100 only (no BPTT))" in out
    trained = with_training(d, _train(s, corpus).grading)
    assert all(not c["matches"] for c in trained.training["gradient_checks"])


def test_right_only_at_the_start_is_found_out_in_training(settings, abc, tmp_path):
    """cheat_late.py is right for its first 100 calls, which cover every check before training; the training
    steps drawn from the seed find it out, in run.json, the diagnosis and its verdict."""
    cached = _ensure(settings("cheat_late"))
    record = json.loads((tmp_path / "cheat_late" / "run.json").read_text())["grading"]
    checks = record["gradient_checks"]
    assert [c["step"] for c in checks] == record["checked_steps"] == grading.check_steps(1, 200)
    assert checks[0]["matches"] and not checks[-1]["matches"]         # right at step 0, wrong by the end
    first = next(c["step"] for c in checks if not c["matches"])
    assert all(c["matches"] == (c["step"] < first) for c in checks)
    assert {c.get("explained") for c in checks if not c["matches"]} == {"no BPTT"}    # named by the diagnosis
    assert record["their_loss"]["differing_steps"] == 0 and not record["ok"]   # its loss stays right
    d = cached.diagnosis
    assert all(r.matches for r in d.comparison if r.probe != "training")      # before training: all right
    assert d.summary() == f"gradients wrong at training step {first} (no BPTT)"
    assert "They matched before training and at steps 0" in d.findings[-1].sentence
    saved = json.loads((tmp_path / "cheat_late" / "gradcheck.json").read_text())["diagnosis"]
    assert saved["summary"] == d.summary() and saved["training"] == record


def test_an_honest_file_matches_at_every_step_and_trains_to_labrnns_losses(settings, abc):
    corpus = labrnn.load_corpus(str(abc))
    own = Trainer(corpus, settings(engine="numpy")).run(progress=False)
    theirs = _train(settings("correct_columns"), corpus)
    assert theirs.grading.ok and theirs.grading.steps == 200
    assert len(theirs.grading.gradient_checks) == grading.CHECKS + 1
    assert 0 < theirs.grading.their_loss.max_rel < 1e-14                  # another style: round-off only
    np.testing.assert_allclose(theirs.curve, own.curve, rtol=1e-9)


def test_the_record_survives_a_checkpoint(settings, abc):
    """A resumed run grades on from where its checkpoint left: the same record as a run never stopped."""
    corpus = labrnn.load_corpus(str(abc))
    s = settings("correct_columns")
    whole = _train(s, corpus).grading
    saved = []

    def keep(trainer):
        if trainer.step == 50:
            arrays, meta = trainer.checkpoint()
            saved.append(({k: np.copy(v) for k, v in arrays.items()}, json.loads(json.dumps(meta))))

    with sandbox.opened(read_model(s.model), s, corpus) as their:
        Trainer(corpus, s, Grader(their)).run(progress=False, checkpoint=keep, checkpoint_every=50)
    with sandbox.opened(read_model(s.model), s, corpus) as their:
        resumed = Trainer.restore(corpus, *saved[0], "memory", Grader(their))
        assert resumed.grader.record.steps == 50 and len(resumed.grader.record.gradient_checks) == 3
        record = resumed.run(progress=False).grading
    assert record.to_dict() == whole.to_dict() and record.steps == 200


FORGER = '''"""Right; at import it starts a thread writing forged files into the run directory, all along."""
import threading
import time

RUN_DIR = {run_dir!r}
FORGED = {{"run.json": b'{{"best": {{"smooth_loss": 0.001}}}}', "key.json": b'{{}}', "gradcheck.json": b'{{}}'}}


def forge():
    while True:
        for name, data in FORGED.items():
            try:
                with open(RUN_DIR + "/" + name, "wb") as fh:
                    fh.write(data)
            except OSError:
                pass                        # confined: it cannot write there
        time.sleep(0.001)


try:
    threading.Thread(target=forge, daemon=True).start()
except RuntimeError:
    pass                                    # confined: no thread of its own
'''


def test_nothing_the_child_writes_is_read_back(settings, abc, tmp_path):
    """A file whose thread rewrites run.json, key.json and gradcheck.json all along: the run directory holds
    what labrnn computed, since their process ends before labrnn writes them."""
    source = (MODELS / "correct_columns.py").read_text()
    path = tmp_path / "forger.py"
    s = settings("forger", steps=50, sample_every=25, sample_until=50)
    path.write_text(FORGER.format(run_dir=s.run_dir) + source.split('"""', 2)[2])
    s = labrnn.Settings(**{**vars(s), "model": str(path)})
    corpus = labrnn.load_corpus(str(abc))
    with sandbox.opened(read_model(s.model), s, corpus) as their:
        cached = ensure_run(s, corpus, model_file=their.model_file, sandbox=their)
        time.sleep(0.05)                                      # the thread, were it alive, would have written
        assert cached.trained_now and open_run(cached.run_dir).run.best == cached.run.best
        assert cache.run_key(s, corpus) == labrnn.RunDir(s.run_dir).read_key().key
        assert open_run(cached.run_dir).diagnosis == cached.diagnosis


def test_the_diagnosis_keeps_the_run_size_and_training_through_json_and_table_1b(settings, abc):
    """gradcheck.json round-trips what was added; Table 1b heads its columns with the run's m and training."""
    from labrnn.report import render
    from labrnn.student.diagnose import Diagnosis
    s = settings("cheat_late")
    corpus = labrnn.load_corpus(str(abc))
    with sandbox.opened(read_model(s.model), s, corpus) as their:
        check, d = check_model(s, corpus, their)
        d = with_training(d, Trainer(corpus, s, Grader(their)).run(progress=False).grading)
    again = Diagnosis.from_dict(json.loads(json.dumps(d.to_dict(), allow_nan=False)))
    assert again == d and again.run_m == 8 and again.training["steps"] == 200
    shown = render.diagnosis(d, {"name": "cheat_late.py"})
    assert "<th>m = 8: start</th>" in shown.html.replace(' scope="col"', "") and "training steps" in shown.html
    assert "the same three at the run's m = 8; and in training, the worst of its 200 steps" in shown.plain
    assert d.summary().startswith("gradients wrong at training step")
