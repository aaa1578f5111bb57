"""The gradebook (labrnn.sweeps.gradebook): grades.csv and grades.json, one row per submission, with stable columns, the
right status, and no cell a spreadsheet could take for a formula."""
import csv
import hashlib
import importlib.util
import io
import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings, strategies as st

from labrnn.sweeps import gradebook
from labrnn.student import similar
from labrnn.rnn.corpus import Corpus
from labrnn.student.diagnose import MISTAKES, diagnose
from labrnn.sweeps.gradebook import COLUMNS, FAILED, FORMULA, NOT_RUN, PASSED, cell, graded, not_run, with_groups
from labrnn.rnn.gradcheck import gradcheck
from labrnn.rnn.model import loss_and_grads as lab_loss_and_grads
from labrnn.rnn.train import Broken, Sample

pytestmark = pytest.mark.fast
MODELS = Path(__file__).parent / "models"
M, T = 4, 10


@pytest.fixture(scope="module")
def corpus(genesis_text):
    return Corpus(genesis_text, "genesis")


def student(name):
    """A student file's loss_and_grads, loaded in-process (only the tests do this)."""
    spec = importlib.util.spec_from_file_location(name, MODELS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.loss_and_grads


def checked(corpus, fn):
    check = gradcheck(corpus, m=M, seq_length=T, loss_and_grads=fn)
    return check, diagnose(fn, corpus.data, corpus.K, m=M, seq_length=T, check=check)


def a_run(best=20.0, bits=(2.5, 2.1), broken=None):
    """What the gradebook reads of a labrnn.rnn.train.Run: its settings' seq_length, best loss, samples, breakage."""
    samples = [Sample(i * 100, "text", 0.1, [], heldout_bits_per_char=b) for i, b in enumerate(bits)]
    return SimpleNamespace(settings=SimpleNamespace(seq_length=T), best=SimpleNamespace(smooth_loss=best),
                           samples=[Sample(0, "", 0.0, []), *samples], broken=broken)


def read_csv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


@pytest.fixture(scope="module")
def class_grades(corpus, tmp_path_factory):
    """Five submissions: correct, a documented mistake, one that broke in training, one that did not import, and
    a copy of the correct one; written to a directory beside their reports."""
    out = tmp_path_factory.mktemp("reports") / "sweep-class"
    out.mkdir()
    good, tanh = checked(corpus, student("loop_rnn")), checked(corpus, student("mistake_tanh_missing"))
    grades = [graded("/class/ann.py", "a" * 64, a_run(), *good, out.parent / "run-ann" / "report.html", out),
              graded("/class/bob.py", "b" * 64, a_run(30.0, ()), *tanh, out.parent / "run-bob" / "report.html", out),
              graded("/class/cy.py", "c" * 64, a_run(math.inf, (), Broken(70, "cy.py:3: ZeroDivisionError")), *good),
              not_run("/class/=HYPERLINK(x).py", "d" * 64, "=HYPERLINK(x).py:1: SyntaxError: invalid syntax"),
              graded("/class/dee.py", "e" * 64, a_run(), *good)]
    grades = with_groups(grades, [["/class/ann.py", "/class/dee.py"]])
    return (out, *gradebook.write(out, grades))


def test_the_columns_are_the_documented_ones(class_grades):
    out, csv_path, json_path = class_grades
    assert read_csv(csv_path)[0] == list(COLUMNS)
    assert json.loads(json_path.read_text())["columns"] == list(COLUMNS)
    documented = (Path(__file__).parent.parent / "docs" / "class.md").read_text()
    assert all(f"`{c}`" in documented for c in COLUMNS)      # each one documented
    assert sorted(p.name for p in out.iterdir()) == ["grades.csv", "grades.json"]       # no temporary left


def test_each_submission_has_its_status_reason_and_numbers(class_grades):
    _, csv_path, json_path = class_grades
    rows = {r["student"]: r for r in json.loads(json_path.read_text())["grades"]}
    assert list(rows) == ["=HYPERLINK(x)", "ann", "bob", "cy", "dee"]       # sorted by file name
    ann, bob, cy, dee, bad = rows["ann"], rows["bob"], rows["cy"], rows["dee"], rows["=HYPERLINK(x)"]
    assert (ann["status"], ann["reason"], ann["diagnosis"], ann["diagnosis_text"]) == (PASSED, "", [], "correct")
    assert [ann[f"grad_{k}"] for k in "WUVbc"] == ["pass"] * 5
    assert ann["min_loss_per_char"] == pytest.approx(20.0 / T) and ann["heldout_bits_per_char"] == 2.1
    assert ann["report"] == "../run-ann/report.html" and ann["file"] == "ann.py" and ann["sha256"] == "a" * 64
    assert bob["status"] == FAILED and bob["diagnosis"] == ["tanh_missing"] and set(bob["diagnosis"]) <= set(MISTAKES)
    assert [bob[f"grad_{k}"] for k in "WUVbc"] == ["fail", "fail", "pass", "fail", "pass"]
    assert bob["reason"] == "gradient check fails for W U b; differs from the reference: tanh' missing"
    assert bob["heldout_bits_per_char"] is None
    assert cy["status"] == FAILED and cy["reason"] == "broke at training step 70: cy.py:3: ZeroDivisionError"
    assert cy["min_loss_per_char"] is None                  # no finite loss: empty, not inf
    assert bad["status"] == NOT_RUN and bad["reason"].startswith("=HYPERLINK") and bad["grad_W"] == ""
    assert (ann["identical_code"], dee["identical_code"], bob["identical_code"]) == (1, 1, None)
    as_csv = [dict(zip(COLUMNS, r)) for r in read_csv(csv_path)[1:]]
    assert [r["status"] for r in as_csv] == [NOT_RUN, PASSED, FAILED, FAILED, PASSED]
    assert as_csv[2]["diagnosis"] == "tanh_missing" and as_csv[1]["identical_code"] == "1"


def test_csv_cells_hold_no_formula_and_numbers_stay_numbers(class_grades):
    _, csv_path, _ = class_grades
    rows = read_csv(csv_path)
    assert all(not c.startswith(FORMULA) for r in rows for c in r)
    bad = dict(zip(COLUMNS, rows[1]))
    assert bad["student"] == "'=HYPERLINK(x)" and bad["file"] == "'=HYPERLINK(x).py"
    assert bad["reason"].startswith("'=HYPERLINK(x).py:1")
    assert float(dict(zip(COLUMNS, rows[2]))["min_loss_per_char"]) == pytest.approx(2.0)
    assert csv_path.read_bytes().count(b"\r\n") == len(rows)      # RFC 4180 line ends


@pytest.mark.parametrize("value, written", [(-1.5, "-1.5"), (-3, "-3"), (2.0, "2.0"), (None, ""), ("-x", "'-x"),
                                            ("'=1", "''=1"), ("+1", "'+1"), ("@SUM(A1)", "'@SUM(A1)"),
                                            ("\tx", "'\tx"), ("a=1", "a=1"), (["no_bptt", "sign"], "no_bptt sign")])
def test_a_cell(value, written):
    assert _through_csv(cell(value)) == written


def _through_csv(value) -> str:
    text = io.StringIO(newline="")
    csv.writer(text, lineterminator="\r\n").writerow([value, "next"])
    (row,) = csv.reader(io.StringIO(text.getvalue(), newline=""))
    assert row[1] == "next"
    return row[0]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_reads_back_as_text_that_is_no_formula(text):
    read = _through_csv(cell(text))
    assert not read.startswith(FORMULA)
    assert (read[1:] if read.startswith("'") else read) == text       # one apostrophe dropped: the text itself


@settings(max_examples=100, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers())
def test_any_number_reads_back_as_that_number(x):
    assert type(x)(_through_csv(cell(x))) == x       # an int beyond 2**53 is no float


def test_a_real_run_is_graded(corpus):
    """The attributes read are those of labrnn.rnn.train.Run (labrnn's own model here, its check passing)."""
    from labrnn.settings import Settings
    from labrnn.rnn.train import train
    run = train(corpus, Settings(eta=0.1, seq_length=T, m=8, steps=120, sample_every=60, sample_until=120,
                                 sample_len=20, best_len=20, holdout=0.1), progress=False)
    grade = graded("/class/own.py", "f" * 64, run, *checked(corpus, lab_loss_and_grads))
    assert grade.status == PASSED and grade.min_loss_per_char == pytest.approx(run.best.smooth_loss / T)
    assert grade.heldout_bits_per_char == run.samples[-1].heldout_bits_per_char is not None


def test_a_sweep_s_entries_become_grades_with_identical_code_grouped(corpus, tmp_path):
    """What the sweep holds (its Done entries, its (settings, reason) failures, each file's bytes) is all
    of_sweep needs (with labrnn.student.similar's groups); copies group, labrnn's own model has no row."""
    from labrnn.settings import Settings
    from labrnn.sweeps.comparison import Done
    loop = (MODELS / "loop_rnn.py").read_bytes()
    sources = {"/c/ann.py": loop, "/c/copy.py": loop.replace(b"dh_next", b"carry") + b"# mine\n",
               "/c/ref.py": (MODELS / "reference_rnn.py").read_bytes(), "/c/bad.py": b"def f(:\n"}
    good = checked(corpus, student("loop_rnn"))
    done = [Done(Settings(model=path, seq_length=T), tmp_path / path[3:-3] / "report.html",
                 SimpleNamespace(**vars(a_run()), model={"sha256": path[3] * 64}), *good)
            for path in ["/c/ann.py", "/c/copy.py", "/c/ref.py"]]
    done.append(Done(Settings(seq_length=T), tmp_path / "own" / "report.html", a_run(), *good))
    grades = gradebook.of_sweep(done, [(Settings(model="/c/bad.py"), "bad.py:1: SyntaxError")], sources,
                                similar.groups(sources), tmp_path)
    by = {g.student: g for g in grades}
    assert sorted(by) == ["ann", "bad", "copy", "ref"]
    assert (by["ann"].identical_code, by["copy"].identical_code, by["ref"].identical_code) == (1, 1, None)
    assert by["bad"].status == NOT_RUN and by["bad"].sha256 == hashlib.sha256(b"def f(:\n").hexdigest()
    assert by["ann"].status == PASSED and by["ann"].sha256 == "a" * 64 and by["ann"].report == "ann/report.html"


def test_any_message_is_written_whole_and_a_failed_write_keeps_the_old_files(tmp_path, monkeypatch):
    """A reason with a lone surrogate, control characters and a newline is written (one cell, one JSON value);
    when writing fails, the gradebook there stays as it was and no temporary file is left."""
    reason = "x.py:3: \udcff \x1b[2J\nline 2,\"q\""
    csv_path, json_path = gradebook.write(tmp_path, [not_run("/c/x.py", "0" * 64, reason)])
    (row,) = read_csv(csv_path)[1:]
    assert dict(zip(COLUMNS, row))["reason"] == reason.replace("\udcff", "?")
    assert json.loads(json_path.read_text())["grades"][0]["reason"] == reason.replace("\udcff", "?")
    before = csv_path.read_bytes(), json_path.read_bytes()
    def full(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr("labrnn.iorw.os.fsync", full)       # the disk fills while the new file is written
    with pytest.raises(OSError):
        gradebook.write(tmp_path, [not_run("/c/y.py", "1" * 64, "other")])
    assert (csv_path.read_bytes(), json_path.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grades.csv", "grades.json"]


@pytest.mark.fast
def test_a_reason_names_files_not_paths_of_this_machine():
    """The gradebook goes to an LMS: a reason the sweep logged with the teacher's paths keeps only the names."""
    grade = not_run("/home/teacher/class/x.py", "0" * 64, "/home/teacher/class/x.py:3: importing raised SyntaxError")
    assert grade.reason == "x.py:3: importing raised SyntaxError"
