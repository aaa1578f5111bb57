"""A student's own loss_and_grads (MODEL): run in a child process, every reply checked, every failure one message
naming their file and line; trained through the numpy engine to labrnn's own numbers when it is right."""
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import labrnn
from labrnn.report import cache, render
from labrnn.student import sandbox
from labrnn.cli import main
from labrnn.report.run import ensure_run
from labrnn.student.sandbox import ModelError, Sandbox, read_model
from labrnn.student.grading import Grader
from labrnn.rnn.model import NAMES
from labrnn.rnn.train import CheckpointError, Trainer

MODELS = Path(__file__).resolve().parent / "models"
OWN = (MODELS / "reference_rnn.py").read_text()        # labrnn's own function, as a student's file


@pytest.fixture
def fast_limits(monkeypatch):
    """Time limits of seconds, so the slow and endless files fail quickly."""
    monkeypatch.setattr(sandbox, "START_SECONDS", 3.0)
    monkeypatch.setattr(sandbox, "CALL_SECONDS", 2.0)


@pytest.fixture
def own(tmp_path):
    """labrnn.rnn.model's loss_and_grads written as a student's file."""
    path = tmp_path / "own_rnn.py"
    path.write_text(OWN)
    return path


def _for(command, argv):
    """The tiny run's flags that `command` takes (train has no gradient check)."""
    return [a for a in argv if command != "train" or not a.startswith("--grad-")]


def _exit(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code, capsys.readouterr().err


@pytest.fixture
def train_argv(tiny_argv, genesis):
    """train_argv(out, *flags): `labrnn train` of the tiny run on genesis into out."""
    def argv(out, *flags):
        return ["train", *_for("train", tiny_argv()), "--data", str(genesis), *flags, "--out", str(out), "--quiet"]
    return argv


# -- point 5: every bad file gets its message, with its file and line, and exit code 2 ---------------------------
def _bad(K):
    """file -> (line of theirs the message names, what it says)."""
    return {
        "bad_import.py": (4, "importing the file raised ModuleNotFoundError"),
        "bad_syntax.py": (5, "SyntaxError: invalid syntax"),
        "bad_missing.py": (1, "defines no function loss_and_grads(params, x, y, h0)"),
        "bad_types.py": (5, "loss_and_grads returned grads that are a list; expected a dict with the keys W, U, V, "
                            "b, c"),
        "bad_shapes.py": (5, "grads['b'] with shape (8, 1); expected (8,) = (m,): the same entries in another "
                             "shape (a column vector?)"),
        "bad_transposed.py": (5, f"grads['U'] with shape ({K}, 8); expected (8, {K}) = (m, K): it looks transposed"),
        "bad_raises.py": (6, "raised IndexError"),
        "bad_nan.py": (5, "grads['V'] holding NaN (1 of "),
        "bad_slow.py": (8, "the call loss_and_grads(params, x, y, h0) did not finish within 2.0 s (it was at line 8)"),
        "bad_exit.py": (11, "importing the file raised SystemExit"),
        "bad_endless.py": (None, "the import did not finish within 3.0 s (it was at line"),
        "bad_segfault.py": (6, "ended (killed by signal SIGSEGV)"),
    }


@pytest.mark.parametrize("name", sorted(_bad(0)))
@pytest.mark.parametrize("command", ["train", "report"])
def test_every_bad_file_gets_its_message_and_exit_2_before_anything_is_written(
        name, command, tmp_path, tiny, tiny_argv, genesis, capsys, fast_limits):
    line, says = _bad(labrnn.load_corpus(str(genesis)).K)[name]
    path = MODELS / name
    out = tmp_path / "out"
    flags = ["--out", str(out), "--quiet"] if command == "train" else ["--reports", str(out)]
    argv = [command, *_for(command, tiny_argv()), "--data", str(genesis), "--model", str(path), *flags]
    code, err = _exit(argv, capsys)
    assert code == 2
    first = err.split("\n")[0]
    prefix = f"labrnn {command}: error: {path}:"
    assert first.startswith(prefix)
    at = first[len(prefix):].split(":")[0]
    assert at == str(line) if line else at in ("10", "11")      # bad_endless: the line it was looping at
    assert says in err
    assert not out.exists()
    if name == "bad_raises.py":                          # their traceback, their frames only
        assert "Traceback (your frames only):" in err
        assert 'bad_raises.py", line 11, in loss_and_grads' in err and 'bad_raises.py", line 6, in one_hot' in err
        assert "labrnn" not in err.replace(str(path), "").split("error:", 1)[1]
    else:
        assert "Traceback (most recent call last)" not in err


def test_a_model_file_that_is_not_there_is_one_line(tmp_path, train_argv, capsys):
    code, err = _exit(train_argv(tmp_path / "out", "--model", str(tmp_path / "nope.py")), capsys)
    assert code == 2 and err.strip().count("\n") == 0 and "nope.py: cannot read the model file" in err


def test_a_model_file_too_large_to_run_is_still_named_and_refused_only_when_run(tmp_path, train_argv, capsys):
    """A class's sweep plans every file (name, hash) before any runs: a 2 MB file is its own failed row then,
    not the end of the whole sweep; run on its own it is one line and exit 2, as before."""
    big = tmp_path / "big.py"
    big.write_bytes(b"x = 1\n" * (sandbox.MAX_SOURCE // 6 + 1))
    model = read_model(str(big))
    assert model.problem.endswith("big.py: the model file is larger than 1 MiB; it should hold "
                                  "loss_and_grads(params, x, y, h0) and what it needs")
    assert model.sha256 != read_model(str(MODELS / "reference_rnn.py")).sha256
    code, err = _exit(train_argv(tmp_path / "out", "--model", str(big)), capsys)
    assert code == 2 and err.strip().count("\n") == 0 and "big.py: the model file is larger than 1 MiB" in err
    assert not (tmp_path / "out").exists()


def test_labrnn_never_imports_the_students_file(tmp_path, train_argv, capsys):
    """The file prints the pid of the process that ran it (kept in run.json, never on the terminal): the child's."""
    assert main(train_argv(tmp_path / "out", "--model", str(MODELS / "touches.py"))) == 0
    printed = json.loads((tmp_path / "out" / "run.json").read_text())["model"]["output"]["text"]
    pids = [int(line.split()[-1]) for line in printed.splitlines()]
    assert len(pids) == 1 and pids[0] != os.getpid()
    assert "imported by process" not in capsys.readouterr().err
    assert "touches" not in sys.modules
    assert not any(getattr(m, "__file__", None) == str(MODELS / "touches.py") for m in list(sys.modules.values()))


def test_a_reply_of_their_own_class_is_refused_without_importing_it(tmp_path):
    path = tmp_path / "own_class.py"
    path.write_text("class Loss:\n    pass\n\n\ndef loss_and_grads(params, x, y, h0):\n"
                    "    return Loss(), {}, h0\n")
    params = labrnn.init_params(5, 3, 0.1, np.random.default_rng(0))
    with pytest.raises(ModelError, match=r"own_class.py:5: loss_and_grads returned a loss that is a Loss"):
        with Sandbox(read_model(str(path))) as model:
            model(params, np.arange(4), np.arange(1, 5), np.zeros(3))
    assert "own_class" not in sys.modules


def test_the_reference_file_is_labrnns_own_function_copied():
    """reference_rnn.py, and the files that wrap it, hold labrnn.rnn.model's forward pass verbatim (they cannot import
    it) and one loss_and_grads, the one labrnn.rnn.model had before its backward pass took the mistakes as switches
    (tests/test_model.py holds labrnn's bit-identical to it)."""
    import inspect
    from labrnn.rnn import model
    saved = (MODELS / "reference_rnn.py").read_text()
    saved = saved[saved.index("def loss_and_grads("):]
    for name in ("reference_rnn.py", "bad_nan_later.py", "bad_sized.py", "touches.py"):
        text = (MODELS / name).read_text()
        for source in (inspect.getsource(model.log_softmax), inspect.getsource(model.forward), saved):
            if name in ("bad_nan_later.py", "bad_sized.py"):
                source = source.replace("def loss_and_grads(", "def labrnn_loss_and_grads(")
            assert source in text, (name, source[:30])


def test_a_file_that_imports_labrnn_is_not_graded_as_its_own(tmp_path):
    path = tmp_path / "borrowed.py"
    path.write_text("import numpy as np\n\nfrom labrnn.rnn.model import loss_and_grads  # noqa: F401\n")
    with pytest.raises(ModelError, match=r"borrowed.py:3: uses labrnn's implementation"):
        Sandbox(read_model(str(path))).start()


# -- point 7: the reference and an independent implementation give labrnn's numbers ------------------------------
def test_labrnns_own_function_as_a_file_trains_to_the_built_in_numbers(tmp_path, train_argv, own, numbers, capsys):
    assert main(train_argv(tmp_path / "builtin", "--engine", "numpy")) == 0
    assert main(train_argv(tmp_path / "theirs", "--model", str(own))) == 0
    built_in, theirs = numbers(tmp_path / "builtin"), numbers(tmp_path / "theirs")
    model = theirs.pop("model")
    assert {k: model[k] for k in ("name", "path", "sha256")} == {"name": "own_rnn.py", "path": str(own),
                                                                 "sha256": read_model(str(own)).sha256}
    assert built_in.pop("model") is None
    graded = theirs.pop("grading")                   # what labrnn compared: all of it the same, bit for bit
    assert graded["ok"] and graded["their_loss"]["max_rel"] == graded["their_h_last"]["max_rel"] == 0
    assert [c["step"] for c in graded["gradient_checks"]] == graded["checked_steps"] and graded["steps"] == 300
    assert theirs == built_in                        # params, samples, best, losses: number for number
    with np.load(tmp_path / "builtin" / "run.npz") as a, np.load(tmp_path / "theirs" / "run.npz") as b:
        assert all(np.array_equal(a[k], b[k]) for k in a.files)


def test_an_implementation_in_another_style_trains_to_the_same_losses(tiny, genesis):
    """Step for step within round-off, as the two engines agree (tests/test_train.py: AdaGrad amplifies a
    round-off difference about 1e4-fold every few steps, so after the first steps the runs agree in their
    statistics); on this small network the 300 steps agree throughout."""
    corpus = labrnn.load_corpus(str(genesis))
    built_in = Trainer(corpus, tiny(engine="numpy")).run(progress=False)
    settings = tiny(model=str(MODELS / "correct_columns.py"))
    with sandbox.opened(read_model(settings.model), settings, corpus) as model:
        theirs = Trainer(corpus, settings, Grader(model)).run(progress=False)
    assert theirs.steps_done == built_in.steps_done == 300
    np.testing.assert_allclose(theirs.curve[:10], built_in.curve[:10], rtol=1e-12)
    np.testing.assert_allclose(theirs.curve, built_in.curve, rtol=1e-6)
    assert theirs.best.smooth_loss == pytest.approx(built_in.best.smooth_loss, rel=1e-6)


def test_correct_columns_agrees_with_labrnn_from_any_state(rng):
    """Large weights, a random h0: every gradient and the last hidden state within round-off."""
    params = labrnn.init_params(12, 6, 0.8, rng)
    params["b"], params["c"] = rng.standard_normal(6), rng.standard_normal(12)
    x, y, h0 = rng.integers(0, 12, 9), rng.integers(0, 12, 9), rng.standard_normal(6)
    loss, grads, h_last = labrnn.loss_and_grads(params, x, y, h0)
    with Sandbox(read_model(str(MODELS / "correct_columns.py"))) as model:
        their_loss, their_grads, their_h = model(params, x, y, h0)
        assert model.line == 20                      # where their function is defined, for messages
    assert their_loss == pytest.approx(loss, rel=1e-13)
    for k in grads:
        np.testing.assert_allclose(their_grads[k], grads[k], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(their_h, h_last, rtol=1e-13)


# -- the model file in names, keys and records ---------------------------------------------------------------
def test_the_files_content_is_in_the_run_name_and_the_cache_key(tmp_path, own, tiny):
    corpus = {"name": "genesis", "sha256": "d18db16b" + "0" * 56}
    sha = read_model(str(own)).sha256
    settings = tiny(model=str(own))
    assert settings.engine == "numpy"
    def name(s):
        return s.name(corpus, read_model(s.model).info())
    assert name(settings).startswith(f"genesis-d18db16b_own-rnn-{sha[:8]}_eta0.1_")
    copy = tmp_path / "elsewhere" / "own_rnn.py"
    copy.parent.mkdir()
    copy.write_text(OWN)
    assert cache.cache_key(tiny(model=str(copy)), "x", sha) == cache.cache_key(settings, "x", sha)
    own.write_text(OWN + "# one more line\n")
    changed = read_model(str(own)).sha256
    assert changed != sha and name(settings) != name(tiny(model=str(copy)))
    assert cache.cache_key(settings, "x", changed) != cache.cache_key(settings, "x", sha)
    assert cache.cache_key(tiny(), "x")["model_sha256"] is None


def test_the_bytes_that_run_are_the_bytes_hashed(tmp_path, own, tiny, genesis):
    """The file is read once: a change on disk after that read reaches neither the sandbox nor the run's key."""
    settings = tiny(model=str(own), run_dir=str(tmp_path / "run"))
    model_file = read_model(settings.model)
    own.write_text("raise SystemExit('not the file that was read')\n")
    cached = ensure_run(settings, model_file=model_file)
    assert cached.run.model["sha256"] == model_file.sha256 != read_model(str(own)).sha256
    assert cached.run_dir.read_key().key["model_sha256"] == model_file.sha256
    assert cached.run.broken is None and cached.check.passed


def test_a_checkpoint_resumes_only_with_the_model_it_was_trained_with(tiny, genesis, own):
    corpus = labrnn.load_corpus(str(genesis))
    settings = tiny(model=str(own))
    with sandbox.opened(read_model(settings.model), settings, corpus) as model:
        trainer = Trainer(corpus, settings, Grader(model))
        arrays, meta = trainer.checkpoint()
        assert meta["model"]["sha256"] == read_model(str(own)).sha256
        assert Trainer.restore(corpus, arrays, meta, "here", Grader(model)).settings.model == str(own)
    with pytest.raises(CheckpointError, match="trained with the model file of sha256 .*, not with labrnn's own"):
        Trainer.restore(corpus, arrays, meta, "here")


# -- during training: the run stops there, what was reached is written, and says where -----------------------------
def test_a_model_that_breaks_during_training_stops_the_run_there(tmp_path, train_argv, capsys):
    out = tmp_path / "run"
    code = main(train_argv(out, "--model", str(MODELS / "bad_nan_later.py")))
    err = capsys.readouterr().err
    assert code == 1
    assert f"the model failed at step 40, where training stopped:\n{MODELS / 'bad_nan_later.py'}:11: " in err
    record = json.loads((out / "run.json").read_text())
    assert record["steps_done"] == 40 and record["broken"]["step"] == 40
    assert "returned the loss nan; expected a finite number" in record["broken"]["message"]
    assert [s["step"] for s in record["samples"]] == [0]
    assert not list(out.glob("*.tmp"))
    run = labrnn.RunDir(out).load_run()
    assert run.broken.step == 40 and len(run.curve) == 40 and np.isfinite(run.curve).all()


# -- point 1: the starting file ------------------------------------------------------------------------------------
def test_new_model_writes_a_file_to_fill_in_and_never_overwrites(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["new-model", "my rnn.py"]) == 0
    text = (tmp_path / "my rnn.py").read_text()
    assert "def loss_and_grads(params, x, y, h0):" in text
    for line in ("a_t = W h_{t-1} + U x_t + b", "h_t = tanh(a_t)", "o_t = V h_t + c", "p_t = softmax(o_t)",
                 "W (m, m)", "U (m, K)", "V (K, m)", "b (m,)", "c (K,)", "labrnn gradcheck --model 'my rnn.py'"):
        assert line in text
    compile(text, "my rnn.py", "exec")
    capsys.readouterr()
    code, err = _exit(["new-model", "my rnn.py"], capsys)
    assert code == 2 and err.strip() == "labrnn new-model: error: my rnn.py exists; labrnn never overwrites a " \
                                        "file: name a new one"
    assert (tmp_path / "my rnn.py").read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my rnn.py"]


def _commands(text):
    """The labrnn command lines of new-model's message or the starter's docstring, as shell words."""
    return [shlex.split(line.split("#")[0]) for line in text.splitlines() if "bin/labrnn " in line]


@pytest.mark.fast
def test_new_model_names_commands_that_work_from_where_the_student_is(tmp_path, capsys, monkeypatch):
    """The message gives this venv's labrnn by its absolute path (a bare `labrnn` is not on a student's PATH, and
    `make` would read the path from the repository), and the file as they named it, from their directory."""
    monkeypatch.chdir(tmp_path)
    assert main(["new-model", "my rnn.py"]) == 0
    err = capsys.readouterr().err
    labrnn = Path(sys.executable).absolute().parent / "labrnn"
    assert err.splitlines()[0] == "wrote my rnn.py: fill in loss_and_grads, then, from this directory:"
    assert _commands(err) == [[str(labrnn), "gradcheck", "--model", "my rnn.py"],
                              [str(labrnn), "report", "--model", "my rnn.py"]]
    assert labrnn.is_absolute() and os.access(labrnn, os.X_OK) and "make " not in err


@pytest.mark.fast
def test_the_starter_names_no_path_of_the_machine_outside_the_home(tmp_path, capsys, monkeypatch):
    """Installed outside the home, the starter's docstring (listed in a hand-in) gives `path/to/` and the venv's
    last parts, not the absolute path of the install; the message on the terminal keeps it whole."""
    monkeypatch.setenv("HOME", str(tmp_path / "elsewhere"))
    monkeypatch.chdir(tmp_path)
    assert main(["new-model", "my_rnn.py"]) == 0
    written, labrnn = (tmp_path / "my_rnn.py").read_text(), Path(sys.executable).absolute().parent / "labrnn"
    assert str(labrnn.parent) not in written and "path/to/" + str(Path(*labrnn.parts[-3:])) + " gradcheck" in written
    assert str(labrnn) in capsys.readouterr().err


def test_the_commands_new_model_gives_run_from_the_students_directory(tmp_path, capsys, monkeypatch):
    """Run as printed, from elsewhere than the repository: the message's command, and the docstring's in a shell
    with the home directory shown as ~ (the listing of a hand-in names no user)."""
    home = Path(sys.executable).absolute().parent.parent.parent        # the venv's parent, as if it were the home
    monkeypatch.setenv("HOME", str(home))
    student = tmp_path / "my folder"
    student.mkdir()
    monkeypatch.chdir(student)
    assert main(["new-model", "my_rnn.py"]) == 0
    said, written = capsys.readouterr().err, (student / "my_rnn.py").read_text()
    docstring = [line.split(":", 1)[1].strip() for line in written.splitlines() if "bin/labrnn " in line]
    assert docstring[0] == "~/" + shlex.quote(str(Path(sys.executable).absolute().parent.relative_to(home))) + \
        "/labrnn gradcheck --model my_rnn.py"
    line = next(i for i, text in enumerate(written.splitlines(), 1) if "raise NotImplementedError" in text)
    for run in (_commands(said)[0], ["bash", "-c", docstring[0]]):
        r = subprocess.run(run, cwd=student, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "HOME": str(home)})
        assert r.returncode == 2 and f"my_rnn.py:{line}: the call loss_and_grads(params, x, y, h0) raised " \
                                      "NotImplementedError" in r.stderr, r.stderr


def test_the_starting_file_says_what_to_write(tmp_path, train_argv, capsys):
    path = tmp_path / "my_rnn.py"
    assert main(["new-model", str(path)]) == 0
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "raise NotImplementedError" in text)
    code, err = _exit(train_argv(tmp_path / "out", "--model", str(path)), capsys)
    assert code == 2 and f"{path}:{line}: the call loss_and_grads(params, x, y, h0) raised NotImplementedError" in err
    assert "write the forward pass" in err and not (tmp_path / "out").exists()


# -- the report: the gradient check and the diagnosis of their function, the run, and where it broke ---------------
def test_the_reference_as_a_file_gives_the_built_in_report_on_the_numpy_engine(tmp_path, tiny, own, numbers):
    from labrnn.report import pipeline
    built_in = pipeline.make_report(tiny(engine="numpy", reports=tmp_path / "r"), log=lambda m: None)
    theirs = pipeline.make_report(tiny(model=str(own), reports=tmp_path / "r"), log=lambda m: None)
    assert theirs.run_dir != built_in.run_dir and f"_own-rnn-{read_model(str(own)).sha256[:8]}_" in theirs.run_dir.name
    a, b = numbers(built_in.run_dir), numbers(theirs.run_dir)
    assert b.pop("model")["sha256"] == read_model(str(own)).sha256 and a.pop("model") is None
    assert b.pop("grading")["ok"] and a == b
    checks = [json.loads((r.run_dir / "gradcheck.json").read_text()) for r in (built_in, theirs)]
    theirs_at_m = checks[1]["diagnosis"]           # theirs is compared again at the run's m and in training
    assert theirs_at_m.pop("run_m") == 8 and theirs_at_m.pop("training")["ok"]
    assert {r["probe"] for r in theirs_at_m["comparison"] if r["matches"]} == {
        "start", "h0", "large", "run start", "run h0", "run large", "training"}
    theirs_at_m["comparison"] = [r for r in theirs_at_m["comparison"] if r["probe"] in ("start", "h0", "large")]
    assert checks[0] == checks[1] and checks[0]["passed"] and checks[0]["diagnosis"]["ok"]
    page = theirs.report.read_text(encoding="utf-8")
    assert "own_rnn.py matches the reference everywhere" in page and "model <b>own_rnn.py (sha256" in page
    assert "labrnn's own model is the reference's computation" in built_in.report.read_text(encoding="utf-8")
    assert "forward pass on the parameters it trained" in page
    again = ensure_run(tiny(model=str(own), run_dir=str(theirs.run_dir)), model_file=read_model(str(own)))
    assert not again.trained_now and again.diagnosis.ok and again.run.model["name"] == "own_rnn.py"
    own.write_text(OWN + "# changed\n")                            # another file content: another run
    assert ensure_run(tiny(model=str(own), run_dir=str(theirs.run_dir)), model_file=read_model(str(own))).trained_now


def test_a_model_that_breaks_during_training_still_gets_its_report(tmp_path, tiny_argv, genesis, capsys):
    reports = tmp_path / "reports"
    code = main(["report", *tiny_argv(), "--data", str(genesis), "--model", str(MODELS / "bad_nan_later.py"),
                 "--reports", str(reports)])
    err = capsys.readouterr()
    assert code == 1
    report = Path(err.out.strip())
    assert report.is_file() and "training stopped at step 40, where the model failed" in err.err
    page = report.read_text(encoding="utf-8")
    assert "Training stopped at step 40, where the model failed as shown below" in page
    assert '<pre class="failure">bad_nan_later.py:11: loss_and_grads returned the loss nan' in page   # name, no path
    assert json.loads((report.parent / "run.json").read_text())["broken"]["step"] == 40


def test_a_model_that_fails_the_gradient_check_s_network_writes_nothing(tmp_path, tiny_argv, genesis, capsys):
    reports = tmp_path / "reports"
    code, err = _exit(["report", *tiny_argv(), "--data", str(genesis), "--model", str(MODELS / "bad_sized.py"),
                       "--reports", str(reports)], capsys)
    assert code == 2
    assert f"{MODELS / 'bad_sized.py'}:6: loss_and_grads returned h_last with shape (8,); expected (3,) = (m,)" in err
    assert not reports.exists()


@pytest.mark.parametrize("name, code, says", [
    ("correct_columns.py", 0, ["gradient check PASSED", "against labrnn's reference: MATCHES (correct)"]),
    ("mistake_transposed.py", 1, ["gradient check FAILED", "against labrnn's reference: DIFFERS",
                                  "- Your dW is the transpose of the lab's"]),
])
def test_gradcheck_prints_the_check_the_comparison_and_the_diagnosis(name, code, says, genesis, capsys):
    assert main(["gradcheck", "--data", str(genesis), "--grad-m", "3", "--seq-length", "8",
                 "--model", str(MODELS / name)]) == code
    out = capsys.readouterr().out
    assert all(line in out for line in says)
    assert out.splitlines()[8].split() == ["start", "h0", "large", "run", "start", "run", "h0", "run", "large"]
    assert "  run start: the lab's start (sigma 0.01, h0 = 0), at the run's m = 100" in out     # the run's own m


def test_a_report_on_a_failing_model_warns_in_one_line(tmp_path, tiny, capsys):
    """A student who skips `labrnn gradcheck` still hears that the check failed; a correct model gets no warning."""
    from labrnn.report.pipeline import make_report
    for name, warned in [("mistake_no_bptt", True), ("correct_columns", False)]:
        lines = []
        make_report(tiny(model=str(MODELS / f"{name}.py"), steps=40, sample_every=20, sample_until=40,
                         reports=str(tmp_path / name)), log=lines.append, progress=False)
        warnings = [line for line in lines if "warning" in line]
        assert (warnings == [w for w in warnings if "FAILED for W U b" in w and "(no BPTT)" in w] and
                len(warnings) == 1) if warned else not warnings, lines


def test_the_report_s_appendix_shows_what_the_file_printed_escaped(tmp_path, tiny, require, tiny_report):
    """64 KiB of markup, terminal escapes and LaTeX specials printed by their file are text in report.html's
    appendix and typeset literally in report.pdf (xelatex survives them); a report without a model has none."""
    from labrnn.report.pipeline import make_report
    noisy = tmp_path / "noisy.py"
    noisy.write_text(OWN + '\n\nprint("<script>alert(1)</script>\\x1b[2J {x} \\\\end{Verbatim} 50% #2 $ \\u2400 "'
                     ' * 2000)\n')
    require("xelatex")
    report = make_report(tiny(model=str(noisy), steps=40, sample_every=20, sample_until=40, format=("html", "pdf"),
                              reports=str(tmp_path / "reports")), log=lambda _: None, progress=False).report
    page = report.read_text(encoding="utf-8")
    appendix = page[page.index('<h2 id="appendix-model">'):]
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[2J {x}" in appendix
    assert "of which the first 64 KiB are kept" in appendix and str(tmp_path) not in appendix
    pdf = subprocess.run([require("pdftotext"), "-layout", "-enc", "UTF-8", str(report.parent / "report.pdf"), "-"],
                         capture_output=True, text=True, check=True).stdout
    pdf = re.sub(r"^\s*\d+\s*\f", "", pdf, flags=re.M)              # the page numbers between its pages
    tail = re.sub(r"\s|[␣↪]", "", pdf[pdf.index("Appendix: the model file"):])
    assert "<script>alert(1)</script>\\x1b[2J{x}\\end{Verbatim}50%#2$" in tail
    shown = json.loads((report.parent / "run.json").read_text())["model"]["output"]["text"][:render.PDF_SHOWN]
    assert tail.count("<script>alert(1)</script>") == shown.count("<script>alert(1)</script>") > 100   # every page
    assert "appendix-model" not in (tiny_report[0] / "report.html").read_text(encoding="utf-8")


# -- confinement: the same numbers, what was in force, what a missing layer does ------------------------------------
def _train(settings, corpus, **kw):
    with Sandbox(read_model(settings.model), **kw) as model:
        run = Trainer(corpus, settings, Grader(model)).run(progress=False)
        return run, model.info()


def test_an_honest_file_confined_gives_the_numbers_it_gives_unconfined(tiny, genesis, own):
    corpus = labrnn.load_corpus(str(genesis))
    settings = tiny(model=str(own), steps=60, sample_every=30, sample_until=60)
    (confined, info), (free, _) = _train(settings, corpus), _train(settings, corpus, confined=False)
    assert info["confinement"]["enforced"] and "all" not in info["confinement"]["missing"]
    assert all(np.array_equal(confined.best_params[k], free.best_params[k]) for k in confined.best_params)
    assert np.array_equal(confined.curve, free.curve) and confined.best == free.best
    assert [(s.step, s.text) for s in confined.samples] == [(s.step, s.text) for s in free.samples]
    graded = confined.grading                  # the curve is labrnn's forward pass; theirs was compared at every step
    assert graded.steps == 60 and graded.their_loss.max_rel <= 1e-12 and graded.their_h_last.max_rel <= 1e-12


def test_a_missing_layer_is_one_warning_and_strict_refuses(own, monkeypatch, capsys):
    monkeypatch.setattr(sandbox.confine, "available", lambda: {"scopes": "Landlock ABI 5 has no scopes"})
    monkeypatch.setattr(sandbox, "_warned", set())
    with Sandbox(read_model(str(own))) as model:
        assert model.info()["confinement"]["enforced"]
    with Sandbox(read_model(str(own))):
        pass
    err = capsys.readouterr().err.splitlines()
    assert err == ["labrnn: warning: a student's file runs without scopes (Landlock ABI 5 has no scopes); "
                   "SANDBOX=strict refuses to run that way"]
    with pytest.raises(ModelError, match="own_rnn.py: not run: SANDBOX=strict, and this system lacks scopes"):
        Sandbox(read_model(str(own)), strict=True).start()


def test_sandbox_strict_is_a_setting_of_train_report_and_gradcheck(tiny, own, genesis):
    settings = tiny(model=str(own), sandbox="strict", limits=2.0)
    box = sandbox.sandboxed(read_model(settings.model), settings, labrnn.load_corpus(str(genesis)))
    assert box.strict and box.limits.memory == 2 * sandbox.MEMORY and box.limits.wall == 2 * box.limits.cpu
    with pytest.raises(Exception, match="sandbox"):
        tiny(sandbox="off")


def _frame(header: bytes, tail: bytes = b"") -> bytes:
    return len(header).to_bytes(4, "little") + header + tail


@pytest.mark.parametrize("reply", [
    b"", b"\x05\x00", _frame(b"{}")[:-1], _frame(b"null"), b"\xff\xff\xff\xff{}",
    _frame(b"\x80\x04\x95pickle"),                                                   # a pickle is not JSON
    _frame(b'{"kind": "ok"}', b"xx"),                                                  # bytes after the arrays
    _frame(b'{"kind": "ok", "detail": ["array", "f", "<f8", [4]]}', b"\0" * 8),       # shorter than its shape
    _frame(b'{"kind": "ok", "detail": ["array", "f", "|O8", [1]]}', b"\0" * 8),       # objects
    _frame(b'{"kind": "ok", "detail": ["array", "f", ">f8", [1]]}', b"\0" * 8),       # big-endian
    _frame(b'{"kind": "error", "detail": ["1", "boom"]}'),                              # a line that is no number
    _frame(b'{"kind": "ready", "detail": {"a": 1}}'),
    _frame(b"[" * 100_000),
])
def test_a_reply_that_is_not_data_of_the_protocol_is_refused(reply):
    with pytest.raises(ValueError):
        sandbox.decode(reply)


def test_a_reply_decodes_to_checked_arrays_without_pickle():
    header = b'{"kind": "ok", "detail": ["sequence", "tuple", [["array", "float", "<f8", []]], 1]}'
    kind, detail = sandbox.decode(_frame(header, np.float64(2.5).tobytes()))
    assert kind == "ok" and detail == ("sequence", "tuple", [("array", "float", "<f8", (), np.float64(2.5).tobytes())], 1)


def test_what_a_file_prints_is_kept_capped_and_escaped_and_its_messages_too(tmp_path, own, capfd):
    noisy = tmp_path / "noisy.py"
    noisy.write_text(OWN + '\n\nimport sys  # noqa: E402\n\nprint("\\x1b]52;c;eA==\\x07" * 20_000)\n'
                     'sys.stderr.write("\\x1b[2J" * 10_000)\n')
    with Sandbox(read_model(str(noisy))) as model:
        pass
    printed = model.info()["output"]
    assert printed["bytes"] > 200_000 and printed["cut"] and len(printed["text"]) <= sandbox.OUTPUT_SHOWN
    assert printed["text"].startswith("\\x1b]52;c;eA==\\x07") and "\x1b" not in printed["text"]
    loud = tmp_path / "loud.py"
    loud.write_text(f"raise RuntimeError('\\x1b[2J' * 100_000 + ' in {tmp_path}/secret/place.txt')\n")
    with pytest.raises(ModelError) as err:
        Sandbox(read_model(str(loud))).start()
    assert "\x1b" not in str(err.value) and len(str(err.value)) < 10_000 and "\\x1b[2J" in str(err.value)
    assert "\x1b" not in "".join(capfd.readouterr())              # nothing of theirs reached the terminal


def test_a_well_formed_reply_forged_out_of_turn_is_refused(tmp_path):
    """Their code holds the socket's descriptor: a reply in labrnn's own format, sent before it is asked for, is
    still a broken protocol, and nothing of it is used."""
    path = tmp_path / "forge.py"
    path.write_text("import json, os, struct, sys\n"
                    "h = json.dumps({'kind': 'ok', 'detail': ['none']}).encode()\n"
                    "body = struct.pack('<I', len(h)) + h\n"
                    "os.write(int(sys.argv[1]), struct.pack('<Q', len(body)) + body)\n")
    with pytest.raises(ModelError, match=r"forge.py: the import answered 'ok', which is no reply of labrnn's"):
        Sandbox(read_model(str(path))).start()


@settings(max_examples=300, derandomize=True, deadline=None)
@given(header=st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4), max_leaves=20),
       kind=st.sampled_from(["ok", "error", "memory", "labrnn", "ready", "missing", "confined", "unconfined", "x"]),
       tail=st.binary(max_size=64))
def test_any_reply_decodes_or_is_refused_with_a_value_error(header, kind, tail):
    data = _frame(json.dumps({"kind": kind, "detail": header}).encode(), tail)
    try:
        got, detail = sandbox.decode(data)
    except ValueError:
        return
    assert got == kind and (kind != "ok" or isinstance(detail, tuple))


def test_a_spinner_is_stopped_by_its_cpu_time_and_a_sleeper_by_its_wall_clock_budget(tmp_path):
    spin = tmp_path / "spin.py"
    spin.write_text("while True:\n    pass\n")
    with pytest.raises(ModelError, match=r"spin.py: exceeded its 1 s of CPU time during the import"):
        Sandbox(read_model(str(spin)), sandbox.Limits(cpu=1, wall=30.0)).start()
    sleep = tmp_path / "sleep.py"
    sleep.write_text("import time\n\ntime.sleep(30)\n")
    with pytest.raises(ModelError, match=r"sleep.py:3: the import did not finish within [\d.]+ s .* "
                                         r"wall-clock budget of 1 s"):
        Sandbox(read_model(str(sleep)), sandbox.Limits(cpu=1, wall=1.0)).start()


# -- the gradient check's calls, made in the child on one request (Sandbox.nudged) ----------------------------------
def _check_point(K=7, m=3, T=6):
    params = labrnn.init_params(K, m, 0.1, np.random.default_rng(3))
    return params, np.arange(T) % K, (np.arange(T) + 2) % K, np.zeros(m)


def _both_ways(path: Path):
    """The numerical gradients of their file (or the ModelError's message): asked on one request, and one call
    at a time, each in a sandbox of its own."""
    from labrnn.rnn.gradcheck import numerical_grads, one_at_a_time
    found = []
    for ask in (lambda box: box.nudged, lambda box: one_at_a_time(lambda *args: float(box(*args)[0]))):
        params, x, y, h0 = _check_point()
        try:
            with Sandbox(read_model(str(path))) as box:
                box(params, x, y, h0)
                found.append(numerical_grads(params, x, y, h0, 1e-4, ask(box)))
        except ModelError as err:
            found.append(str(err))
    return found


@pytest.mark.parametrize("name", ["reference_rnn.py", "mistake_sign.py", "loop_rnn.py"])
def test_the_gradient_checks_calls_on_one_request_give_the_same_numbers(name):
    nudged, one_by_one = _both_ways(MODELS / name)
    assert set(nudged) == set(one_by_one) == set(NAMES)
    for k in NAMES:
        assert np.array_equal(nudged[k], one_by_one[k]), k            # bit for bit


OWN_DEF = "def loss_and_grads(params: Mapping[str, np.ndarray], x, y, h0):"
CHANGES_ITS_INPUTS = OWN.replace(OWN_DEF, """def loss_and_grads(params, x, y, h0):
    answer = _labrnns(params, x, y, h0)
    for a in (*params.values(), h0):
        a += 1.0
    x[:] = 0
    return answer


def _labrnns(params, x, y, h0):""", 1)
assert CHANGES_ITS_INPUTS != OWN

LATER = """

_calls = 0


def loss_and_grads(params, x, y, h0):
    global _calls
    _calls += 1
    if _calls == 30:            # a call of the gradient check's, neither the first nor the last of a parameter's
        {}
    return _labrnns(params, x, y, h0)
"""


@pytest.mark.parametrize("later, says", [
    ("return float('nan'), {}, h0", "loss_and_grads returned the loss nan; expected a finite number"),
    ("return 'low', {}, h0", "loss_and_grads returned a loss that is a str; expected a real number (a float)"),
    ("return 1.0, {}", "loss_and_grads returned a tuple of 2 items; expected a tuple (loss, grads, h_last)"),
    ("raise ValueError('call 30')", "raised ValueError"),
    ("import time; time.sleep(60)", "did not finish within 2.0 s (it was at line"),
    (None, None),
])
def test_a_gradient_check_call_is_judged_as_any_call_is(later, says, tmp_path, fast_limits):
    """Whatever the 30th call does, an input changed in place, a loss that is no finite number, a reply of the
    wrong shape, an exception, a hang: on one request it is the same numbers, or the same message, as one call
    at a time, each call within its own time limit."""
    path = tmp_path / "later.py"
    if later is None:
        path.write_text(CHANGES_ITS_INPUTS)
    else:
        renamed = OWN.replace(OWN_DEF, "def _labrnns(params, x, y, h0):", 1)
        path.write_text(renamed + LATER.format(later))
    t0 = time.monotonic()
    nudged, one_by_one = _both_ways(path)
    assert time.monotonic() - t0 < 2 * (2.0 + 8)            # two sandboxes, each stopped at a call's limit
    if says is None:
        assert all(np.array_equal(nudged[k], one_by_one[k]) and np.isfinite(nudged[k]).all() for k in NAMES)
    else:
        assert nudged == one_by_one and says in nudged and "later.py:" in nudged, (nudged, one_by_one)
