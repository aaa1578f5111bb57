"""A class swept as a teacher sweeps it (issue 20's "Done when"): every file checked before any training, one
gradebook row per file with the right status, identical code grouped, exit code 1."""
import ast
import csv
import os
import re
import shutil
from pathlib import Path

import pytest

from labrnn.cli import main

MODELS = Path(__file__).resolve().parent / "models"
MISTAKES = sorted(p.stem for p in MODELS.glob("mistake_*.py"))       # each documented mistake, and two at once


def renamed(source: str) -> str:
    """The same code with every local variable renamed and no comments: ast.unparse of the renamed tree."""
    tree = ast.parse(source)
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        mine = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        for n in ast.walk(fn):
            if isinstance(n, ast.Name) and n.id in mine:
                n.id = f"{n.id}_renamed"
    return ast.unparse(tree) + "\n"


def a_class(subs: Path) -> dict[str, str]:
    """Thirty submissions, and the status each must get."""
    subs.mkdir()
    expected = {}
    for src, dst in [("reference_rnn", "ann"), ("loop_rnn", "cat"), ("correct_columns", "dan")]:    # three styles
        shutil.copy(MODELS / f"{src}.py", subs / f"{dst}.py")
        expected[f"{dst}.py"] = "passed"
    source = (MODELS / "correct_columns.py").read_text()
    (subs / "eve.py").write_text(renamed(source).replace("import numpy as np\n", "import numpy as np  # mine\n"))
    expected["eve.py"] = "passed"
    for i, mistake in enumerate(MISTAKES):
        shutil.copy(MODELS / f"{mistake}.py", subs / f"m{i}_{mistake[8:]}.py")
        expected[f"m{i}_{mistake[8:]}.py"] = "failed"
    shutil.copy(MODELS / "bad_syntax.py", subs / "fay.py")
    expected["fay.py"] = "did not run"
    for src, dst, status in [("cheat_loss", "hal", "failed"), ("cheat_small_m", "ida", "failed"),      # graded by
                             ("bad_missing", "jon", "did not run"), ("bad_import", "kim", "did not run"),  # labrnn
                             ("bad_raises", "lea", "did not run"), ("bad_nan", "max", "did not run")]:
        shutil.copy(MODELS / f"{src}.py", subs / f"{dst}.py")
        expected[f"{dst}.py"] = status
    raising = (MODELS / "bad_nan_later.py").read_text()
    raising = raising.replace("calls >= 40", "calls >= 5").replace(
        'loss = float("nan")', 'raise RuntimeError("this step went wrong")')
    (subs / "gus.py").write_text(raising)
    expected["gus.py"] = "failed"
    return expected


def test_a_class_is_checked_first_graded_and_its_copies_grouped(genesis, tiny_argv, tmp_path, capsys):
    subs, reports = tmp_path / "class", tmp_path / "reports"
    expected = a_class(subs)
    assert len(expected) == 30
    code = main(["sweep", *tiny_argv(steps=20, sample_every=10, sample_until=20), f"--data={genesis}",
                 f"--model={subs}", f"--reports={reports}", "--jobs=2"])
    err = capsys.readouterr().err
    assert code == 1
    lines = [line for line in re.sub(r"\r[^\n]*?(?=\[|$)", "\n", err).splitlines() if line.strip()]
    checked = [i for i, line in enumerate(lines) if line.startswith("[check ")]
    trained = [i for i, line in enumerate(lines) if re.match(r"\[\d+/\d+\] model=.*: [\d.]+ s on ", line)]
    assert len(checked) == len(expected) and trained and max(checked) < min(trained), err
    assert any("fay.py: did not run:" in lines[i] and "SyntaxError" in lines[i] for i in checked)
    sweep_dir, = reports.glob("sweep-*")
    with open(sweep_dir / "grades.csv", encoding="utf-8-sig", newline="") as fh:
        grades = {row["file"]: row for row in csv.DictReader(fh)}
    assert {f: g["status"] for f, g in grades.items()} == expected
    assert "broke at training step" in grades["gus.py"]["reason"]
    failing = sorted(f for f, g in grades.items() if g["status"] != "passed")      # the last line counts them all
    assert lines[-1] == f"{len(failing)} of 30 failed: " + "; ".join(f"model={f} ({grades[f]['status']})"
                                                                     for f in failing)
    group = grades["dan.py"]["identical_code"]
    assert group and group == grades["eve.py"]["identical_code"]
    assert [f for f, g in grades.items() if g["identical_code"] == group] == ["dan.py", "eve.py"]
    runs = [d.name for d in reports.iterdir() if d.is_dir() and not d.name.startswith("sweep-")]
    not_run = [f[:-3] for f, status in expected.items() if status == "did not run"]
    assert len(runs) == len(expected) - len(not_run) == 25                                 # none for no report
    assert not [n for n in runs if any(f"_{f}-" in n for f in not_run)]
    assert (sweep_dir / "grades.json").exists()
    page = (sweep_dir / "comparison.html").read_text(encoding="utf-8")
    for shared in (page, *((sweep_dir / f"grades.{ext}").read_text(encoding="utf-8") for ext in ("csv", "json"))):
        assert str(tmp_path) not in shared and "fay.py:" in shared         # a file by its name, never its path
    assert re.search(rf'id="identical">.*?group {group}: dan\.py, eve\.py</li>', page, re.S)
    marked = re.findall(r'<td class="l" data-v="([^"]+)">[^<]*<span class="same">identical code, group (\d+)', page)
    assert sorted(marked) == [("dan.py", group), ("eve.py", group)]


@pytest.mark.fast
def test_a_sweep_exits_1_when_a_model_that_ran_fails_its_check_or_broke():
    """SweepResult.failures, which the sweep's last line counts and names and cmd_sweep's exit code reads: a
    combination that made no report (did not run), and one whose model fails its gradient check, differs from the
    reference or broke (failed), in the gradebook's words; a clean run is not among them."""
    from types import SimpleNamespace

    from labrnn.sweeps.gradebook import FAILED, NOT_RUN
    from labrnn.sweeps.sweep import SweepResult

    def done(name="ann.py", passed=True, ok=True, broken=None):
        check = SimpleNamespace(rows=[SimpleNamespace(name="W", passed=passed)])
        diagnosis = SimpleNamespace(ok=ok, summary=lambda: "no BPTT")
        run = SimpleNamespace(broken=broken)
        return SimpleNamespace(settings=name, run=run, check=check, diagnosis=diagnosis)
    assert not SweepResult(None, [done(), done()], []).problems
    assert SweepResult(None, [done()], [("settings", "did not import")]).problems
    assert SweepResult(None, [done(), done(passed=False)], []).problems
    assert SweepResult(None, [done(ok=False)], []).problems
    assert SweepResult(None, [done(broken=SimpleNamespace(step=5, message="boom"))], []).problems
    result = SweepResult(None, [done(), done("bob.py", passed=False), done("cat.py", ok=False),
                                done("dan.py", broken=SimpleNamespace(step=5, message="boom"))],
                         [("eve.py", "did not import")])
    assert result.failures == [("eve.py", NOT_RUN), ("bob.py", FAILED), ("cat.py", FAILED), ("dan.py", FAILED)]


def test_a_class_is_checked_as_many_files_at_once_as_there_are_cores(tiny, tmp_path, monkeypatch):
    """The checks before any training run side by side, each file in its own sandbox, and are logged in the
    order of the files' names whichever finishes first; a file that does not run is failed in every combination."""
    import threading
    from types import SimpleNamespace

    from labrnn.sweeps import cluster, sweep
    subs = tmp_path / "class"
    subs.mkdir()
    for src, dst in [("reference_rnn", "b"), ("mistake_sign", "a"), ("bad_import", "c")]:
        shutil.copy(MODELS / f"{src}.py", subs / f"{dst}.py")
    met, real = threading.Barrier(2, timeout=30), sweep.check_model

    def together(*args, **kwargs):
        """Two checks must be under way at once to get past the barrier (one at a time would time it out)."""
        met.wait()
        return real(*args, **kwargs)
    monkeypatch.setattr(sweep, "check_model", together)
    monkeypatch.setattr(cluster, "cores", lambda: 2)
    combos = [tiny(model=str(subs / f"{n}.py"), reports=str(tmp_path / "reports")) for n in "abc"]
    lines = []
    tally = sweep.Tally(len(combos), ["model"], lines.append, SimpleNamespace(update=lambda: None))
    plan = sweep.check_first(sweep.Plan.of(combos), tally)
    assert [line.split(":")[0] for line in lines[:3]] == [f"[check {i}/3] {n}.py" for i, n in enumerate("abc", 1)]
    assert "gradients FAIL" in lines[0] and "gradients pass" in lines[1] and "did not run" in lines[2]
    assert [Path(s.model).name for s in plan.there] == ["a.py", "b.py"]
    assert [Path(s.model).name for s, _ in tally.failed] == ["c.py"]


@pytest.mark.serial                                    # bounds wall time
def test_ctrl_c_during_the_checks_kills_the_files_under_way(tiny, tmp_path, monkeypatch):
    """Ctrl-C while two files that never finish importing are checked: their children are killed, not waited for
    (an import's limit is START_SECONDS, a minute), and none is left running."""
    import signal
    import threading
    import time
    from types import SimpleNamespace

    from labrnn.student import sandbox as sandbox_module
    from labrnn.sweeps import cluster, sweep
    subs = tmp_path / "class"
    subs.mkdir()
    for name in "ab":
        shutil.copy(MODELS / "bad_endless.py", subs / f"{name}.py")
    started = []
    real_start = sandbox_module.Sandbox.start
    monkeypatch.setattr(sandbox_module.Sandbox, "start", lambda self: (started.append(self), real_start(self))[1])
    monkeypatch.setattr(cluster, "cores", lambda: 2)
    combos = [tiny(model=str(subs / f"{n}.py"), reports=str(tmp_path / "reports")) for n in "ab"]
    tally = sweep.Tally(len(combos), ["model"], lambda line: None, SimpleNamespace(update=lambda: None))
    plan = sweep.Plan.of(combos)
    timer = threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGINT))
    t0 = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            sweep.check_first(plan, tally)
    finally:
        timer.cancel()
    assert time.monotonic() - t0 < 3.0 + 10             # not START_SECONDS
    assert len(started) == 2 and all(s._proc.poll() is not None for s in started)
