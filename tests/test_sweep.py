"""Sweeps end to end with tiny runs: four reports made two at a time without corrupting each other, the
comparison ranked per character with its figure and escaped passages, the index, bad values refused before
anything runs, and a failing combination that does not take the others down."""
import base64
import csv
import itertools
import json
import math
import re
import shutil
import subprocess
import urllib.parse
from dataclasses import replace
from pathlib import Path

import pytest

import labrnn
from labrnn import RunDir, load_corpus
from labrnn.report import cache, render
from labrnn.sweeps import comparison, grid, sweep
from labrnn.cli import build_parser, from_make, main

# Markup and control characters everywhere, so the best passages are sure to contain some.
HOSTILE = ("<script>alert(1)</script> & </pre><b>x</b> \x07\x1b[31m\n"
           "And God said, Let there be light: and there was light. <i>& so</i>\n")


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "hostile.txt"
    path.write_text(HOSTILE * 40, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def swept(corpus_file, tiny, tmp_path_factory):
    """One sweep of 2 x 2 combinations, two at a time, made once for the tests that read it."""
    reports = tmp_path_factory.mktemp("reports")
    fixed = {k: v for k, v in vars(tiny(corpus_file, best_len=300, reports=reports, jobs=2)).items()
             if k not in ("eta", "seq_length")}
    combos = grid.grid({"eta": [0.1, 0.05], "seq_length": [12, 8]}, **fixed)
    messages = []
    result = sweep.make_sweep(combos, log=messages.append)
    return result, combos, reports, messages


def run_json(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text(encoding="utf-8"))


def test_grid_sorts_and_drops_duplicates():
    combos = grid.grid({"eta": [0.1, 0.05, 0.1], "seq_length": [25]}, steps=100)
    assert [(p.eta, p.seq_length, p.steps) for p in combos] == [(0.05, 25, 100), (0.1, 25, 100)]


def test_parallel_runs_do_not_corrupt_each_other(swept, corpus_file):
    result, combos, reports, messages = swept
    corpus = load_corpus(str(corpus_file))
    assert not result.failed and len(result.done) == 4
    for settings in combos:
        run_dir = RunDir(reports / settings.name(corpus.info()))
        assert run_dir.load_run().settings.numbers() == settings.numbers()
        assert run_dir.read_key().key == cache.cache_key(settings, corpus.sha256)
        assert (run_dir / "report.html").is_file()
    assert not list(reports.rglob("*.tmp")) and not list(reports.rglob(".build-*"))
    assert sorted(m.split("]")[0] for m in messages if m.startswith("[")) == [f"[{k}/4" for k in range(1, 5)]


def test_comparison_ranks_runs_per_character(swept):
    result, _, reports, _ = swept
    assert result.comparison.parent.name.startswith("sweep-eta0.05-0.1_seq8-12_m8_st300_")
    page = result.comparison.read_text(encoding="utf-8")
    ranked = re.findall(r'<a href="\./\.\./([^/"]+)/report\.html">report</a>', page)
    per_char = {d: run_json(reports / d)["best"]["smooth_loss"] / run_json(reports / d)["params"]["seq_length"]
                for d in ranked}
    assert len(ranked) == 4 and ranked == sorted(per_char, key=per_char.get)
    assert re.findall(r'<td data-v="[^"]*"><b>(\d+\.\d{3})</b></td>', page) == [f"{per_char[d]:.3f}" for d in ranked]
    png = re.search(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page).group(1)
    assert base64.b64decode(png).startswith(b"\x89PNG\r\n\x1a\n")
    assert re.search(r"<script[^>]*\ssrc=|<link[^>]*\shref=|src=\"(?!data:)", page) is None
    assert page.count("<script>") == 1          # the table's sorting, inline


def test_best_passages_are_rendered_as_text(swept, pre_blocks):
    result, _, reports, _ = swept
    page = result.comparison.read_text(encoding="utf-8")
    ranked = re.findall(r'<a href="\./\.\./([^/"]+)/report\.html">report</a>', page)
    texts = [run_json(reports / d)["best"]["text"] for d in ranked]
    assert any(c in t for t in texts for c in "<&\x07")          # the test has something to escape
    assert pre_blocks(page, "best") == [render.escape(t, "plain") for t in texts]
    assert "<b>x</b>" not in page and "<i>" not in page
    assert page.count("<pre") == page.count("</pre>") == 4


def test_index_links_the_comparison(swept):
    result, _, reports, _ = swept
    index = (reports / "index.html").read_text(encoding="utf-8")
    assert f'href="./{result.comparison.parent.name}/comparison.html"' in index
    assert index.count("/report.html") == 4


@pytest.mark.parametrize("argv, message", [
    (["--eta", "0.1 abc"], "argument --eta: not a number: 'abc'"),
    (["--seq", "10 0"], "combination seq=0: seq_length must be an integer >= 1"),
    (["--seq", "10 5000"], "combination seq=5000: corpus 'hostile' has"),
    (["--jobs", "0"], "jobs must be an integer >= 1"),
])
def test_a_bad_value_fails_in_one_line_before_anything_runs(argv, message, corpus_file, tmp_path, capsys):
    reports = tmp_path / "reports"
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "--data", str(corpus_file), *argv, "--run-dir", str(reports)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2
    assert len(err) == 1 and err[0].startswith("labrnn sweep: error: ") and message in err[0]
    assert not reports.exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_sweep_passes_the_lists_on(tmp_path):
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(["make", "-s", "-C", str(root), "sweep", "ETA=0.1 abc", "SEQ=20 25",
                           f"RUN_DIR={tmp_path / 'r'}"], capture_output=True, text=True)
    assert done.returncode != 0
    assert "labrnn sweep: error: argument --eta: not a number: 'abc'" in done.stderr.splitlines()
    assert not (tmp_path / "r").exists()


def test_a_failing_combination_does_not_lose_the_others(corpus_file, tiny, tiny_argv, tmp_path, capsys):
    reports = tmp_path / "reports"
    blocked = tiny(corpus_file, seq_length=12, best_len=300)
    reports.mkdir()
    (reports / ".labrnn").touch()                          # a directory of labrnn's
    (reports / blocked.name(load_corpus(str(corpus_file)).info())).write_text("not a directory")
    argv = ["sweep", "--data", str(corpus_file), "--run-dir", str(reports), *tiny_argv(best_len=300),
            "--seq", "8 12"]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    comparison = Path(out.strip())
    assert "seq=12: FAILED: " in err and "exists and is not a directory" in err
    page = comparison.read_text(encoding="utf-8")
    assert len(re.findall(r'href="\./\.\./[^"]+/report\.html"', page)) == 1
    assert re.search(r'class="warning">The combination seq=12 failed', page)
    record = json.loads((comparison.parent / "sweep.json").read_text(encoding="utf-8"))
    assert [r["params"]["seq_length"] for r in record["runs"]] == [8]
    assert [f["params"]["seq_length"] for f in record["failed"]] == [12]


def test_make_sweep_takes_several_clip_values():
    args = build_parser()._subparsers._group_actions[0].choices["sweep"].parse_args(
        from_make("sweep", build_parser()._subparsers._group_actions[0].choices["sweep"], ["CLIP=1 5"]))
    combos = grid.grid({"clip": args.clip}, steps=100)
    assert [c.clip for c in combos] == [1.0, 5.0] and grid.varied(combos) == ["clip"]
    assert grid.label(combos[0], ["clip"]) == "clip=1"


# -- big grids and runs made elsewhere ------------------------------------------
def synthetic(n_eta=4, n_seq=4, n_m=4):
    """n_eta x n_seq x n_m made-up runs (no training): a falling curve per run, its floor set by the settings."""
    import numpy as np

    from labrnn.rnn.train import Best, Run, Sample
    done = []
    for i, (eta, seq, m) in enumerate(itertools.product([0.01 * (k + 1) for k in range(n_eta)],
                                                         [10 + k for k in range(n_seq)], [4 + k for k in range(n_m)])):
        settings = labrnn.Settings(eta=eta, seq_length=seq, m=m, steps=200)
        floor = seq * (1.5 + ((i * 37) % 64) / 64)                 # a scrambled order: not the grid's
        curve = floor + 40 * np.exp(-np.arange(201) / 30)
        best = Best(step=200, smooth_loss=float(curve[-1]), text=f"passage <{i}>", word_share=0.1,
                    word_spans=[], chance_share=0.05)
        samples = [Sample(step=s, text="", word_share=0.0, word_spans=[], heldout_loss_per_char=curve[s] / seq,
                          heldout_bits_per_char=None if i == 5 else curve[s] / seq / math.log(2)) for s in (0, 200)]
        run = Run(settings=settings, corpus={"name": "genesis", "sha256": "ab" * 32, "K": 65}, curve=curve,
                  samples=samples, best=best, best_params={}, steps_done=200, epochs_done=1.0, steps_per_epoch=200,
                  train_seconds=1.0 + i)
        done.append(comparison.Done(settings, Path(f"/nowhere/run{i}/report.html"), run))
    return done


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    done = synthetic()
    names = grid.varied([d.settings for d in done])
    out = tmp_path_factory.mktemp("big") / "sweep-big"
    return comparison.write_comparison(out, "big", done[0].run.corpus, done, [], names), done, names


def test_a_64_run_page_is_one_file_with_the_best_few_in_front(big):
    page_path, done, names = big
    page = page_path.read_text(encoding="utf-8")
    assert sorted(p.name for p in page_path.parent.iterdir()) == [".labrnn", "comparison.html", "sweep.json"]
    assert re.search(r"<script[^>]*\ssrc=|<link[^>]*\shref=|src=\"(?!data:)|https?://", page) is None
    assert len(re.findall(r"<tr[^>]*><td data-v=\"\d+\">", page)) == 64
    ranked = sorted(done, key=comparison.per_char)
    open_part, _, folded = page.partition("<details>")
    assert re.findall(r"<pre class=\"generated best\">passage &lt;(\d+)&gt;", open_part) == \
        [d.run.best.text[9:-1] for d in ranked[:5]]
    assert "The other 59 runs' passages" in folded and folded.count("<pre") == 59


def test_the_figure_colours_the_best_five_and_greys_the_others(big):
    from matplotlib.colors import to_rgb
    _, done, names = big
    ranked = sorted(done, key=comparison.per_char)
    ax = comparison.figure(ranked, names).axes[0]
    curves = [line for line in ax.get_lines() if len(line.get_xdata()) == 201]
    grey = [line for line in curves if len(set(to_rgb(line.get_color()))) == 1]
    assert len(curves) == 64 and len(grey) == 59
    coloured = {line.get_label() for line in curves if line not in grey}
    assert coloured == {grid.label(d.settings, names) for d in ranked[:5]}
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [grid.label(d.settings, names) for d in ranked[:5]] + ["the other 59 runs",
                                                                             "held-out (at the samples)"]


def test_the_64_run_table_sorts_by_any_column_in_chromium(big, browser):
    page_path, done, _ = big
    page = browser.new_page()
    try:
        page.goto(page_path.as_uri(), wait_until="load")
        column = """i => [...document.querySelectorAll('#runs tbody tr')].map(r => r.cells[i].textContent.trim())"""
        heads = page.eval_on_selector_all("#runs thead th", "hs => hs.map(h => h.textContent.trim())")
        seq, per_char, heldout = heads.index("seq"), heads.index("per char"), heads.index("held-out bits/char")
        page.click(f"#runs thead th:nth-child({seq + 1}) button")
        seqs = [int(v) for v in page.evaluate(column, seq)]
        assert seqs == sorted(seqs) and len(seqs) == 64 and seqs[0] < seqs[-1]
        page.click(f"#runs thead th:nth-child({seq + 1}) button")
        assert [int(v) for v in page.evaluate(column, seq)] == sorted(seqs, reverse=True)
        page.click(f"#runs thead th:nth-child({per_char + 1}) button")
        values = [float(v) for v in page.evaluate(column, per_char)]
        assert values == sorted(values) and values != sorted(values, key=lambda v: -v)
        page.click(f"#runs thead th:nth-child({heldout + 1}) button")
        shown = page.evaluate(column, heldout)
        assert shown[-1] == "—" and "—" not in shown[:-1]           # a run without the value sorts last
        assert page.get_attribute(f"#runs thead th:nth-child({heldout + 1})", "aria-sort") == "ascending"
    finally:
        page.close()


@pytest.fixture
def elsewhere(swept, tmp_path):
    """Two of the sweep's report directories copied to a place of their own, one with spaces in its path."""
    _, _, reports, _ = swept
    dirs = sorted(d for d in reports.iterdir() if (d / "key.json").exists())[:2]
    moved = [tmp_path / "from Ann's laptop" / dirs[0].name, tmp_path / "slurm" / dirs[1].name]
    for src, dst in zip(dirs, moved):
        shutil.copytree(src, dst)
    return moved


def test_compare_writes_the_page_of_runs_made_elsewhere(elsewhere, tmp_path, capsys):
    reports = tmp_path / "mine"
    assert main(["compare", *map(str, elsewhere), "--reports", str(reports)]) == 0
    page_path = Path(capsys.readouterr().out.strip())
    assert page_path.parent.parent == reports and page_path.parent.name.startswith("compare-")
    page = page_path.read_text(encoding="utf-8")
    links = re.findall(r'<a href="(\./[^"]+/report\.html)">report</a>', page)
    from urllib.parse import unquote
    assert sorted((page_path.parent / unquote(link)).resolve() for link in links) == \
        sorted((d / "report.html").resolve() for d in elsewhere)
    assert "labrnn compare" in page
    index = (reports / "index.html").read_text(encoding="utf-8")
    assert f'href="./{page_path.parent.name}/comparison.html"' in index


def test_compare_refuses_a_directory_without_a_run_and_runs_on_two_corpora(elsewhere, tmp_path, capsys):
    other = tmp_path / "other corpus"
    shutil.copytree(elsewhere[1], other)
    record = json.loads((other / "run.json").read_text(encoding="utf-8"))
    record["corpus"]["sha256"] = "0" * 64
    (other / "run.json").write_text(json.dumps(record), encoding="utf-8")
    empty = tmp_path / "empty"
    empty.mkdir()
    for dirs, message in [([elsewhere[0], empty], f"no complete run in {empty}"),
                          ([elsewhere[0], other], "hold runs on different corpora"),
                          ([elsewhere[0], tmp_path / "nowhere"], f"{tmp_path / 'nowhere'} is no directory")]:
        with pytest.raises(SystemExit) as exc:
            main(["compare", *map(str, dirs), "--reports", str(tmp_path / "r")])
        err = capsys.readouterr().err.strip().splitlines()
        assert exc.value.code == 2 and len(err) == 1 and err[0].startswith("labrnn compare: error: ")
        assert message in err[0]
        assert not (tmp_path / "r").exists()


# -- what travels with a task ---------------------------------------------------
def test_a_notebook_failing_on_a_worker_fails_its_combination_only(corpus_file, tiny, tmp_path):
    """The run it trained and the failed notebook come back (nothing lost); the other combination completes."""
    import nbformat

    from labrnn.report.execute import notebook_dir
    notebooks = tmp_path / "notebooks"
    shutil.copytree(notebook_dir(), notebooks)
    nb = nbformat.read(notebooks / "1-gradient-check.ipynb", as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "run = cached.run" in c.source) + 1
    nb.cells.insert(at, nbformat.v4.new_code_cell('assert run.settings.seq_length != 12, "this notebook refuses 12"'))
    nbformat.write(nb, notebooks / "1-gradient-check.ipynb")
    fixed = {k: v for k, v in vars(tiny(corpus_file, best_len=100, reports=tmp_path / "r", jobs=2)).items()
             if k != "seq_length"}
    result = sweep.make_sweep(grid.grid({"seq_length": [8, 12]}, **fixed), notebooks=notebooks, log=lambda m: None,
                              progress=False)
    assert [d.settings.seq_length for d in result.done] == [8]
    [(settings, why)] = result.failed
    assert settings.seq_length == 12 and "notebook 1-gradient-check.ipynb failed" in why and "refuses 12" in why
    rd = RunDir(tmp_path / "r" / settings.name(load_corpus(str(corpus_file)).info()))
    assert rd.read_key().key == cache.cache_key(settings, load_corpus(str(corpus_file)).sha256)
    assert (rd / "failed" / "1-gradient-check.ipynb").is_file() and not (rd / "report.html").exists()
    assert "refuses 12" in (rd / "failed" / "1-gradient-check.ipynb").read_text(encoding="utf-8")
    assert result.comparison.is_file()


def test_resume_sends_the_checkpoint_and_the_run_continues_on_a_worker(corpus_file, tiny, tiny_argv, tmp_path,
                                                                       capfd, numbers):
    from labrnn.report.pipeline import make_report
    from labrnn.report.rundir import claim
    from labrnn.rnn.train import Trainer
    reports = tmp_path / "reports"
    s = tiny(corpus_file, seq_length=8, best_len=100, reports=str(reports))
    corpus = load_corpus(str(corpus_file))
    claim(reports)
    rd = RunDir(reports / s.name(corpus.info())).make()

    class Stop(Exception):
        pass

    def checkpoint(trainer):
        rd.save_checkpoint(trainer)
        if 0 < trainer.step < trainer.total:
            raise Stop                                  # as a killed process would: a checkpoint mid-run
    with pytest.raises(Stop):
        Trainer(corpus, s).run(progress=False, checkpoint=checkpoint, checkpoint_every=100)
    step = rd.checkpoint_meta()["step"]
    argv = ["sweep", "--data", str(corpus_file), "--run-dir", str(reports), *tiny_argv(best_len=100), "--seq", "8"]
    assert main(argv) == 1                              # without RESUME=1: refused here, the checkpoint kept
    assert f"interrupted at step {step:,}: add RESUME=1" in capfd.readouterr().err and rd.has_checkpoint
    assert main([*argv, "--resume"]) == 0
    err = capfd.readouterr().err                        # the worker's own line, on the stderr it inherited
    assert re.search(rf"resuming the run in \S+/labrnn-task-\w+/reports/{rd.name} at step {step:,} of 300", err)
    whole = make_report(replace(s, reports=str(tmp_path / "whole")), log=lambda m: None, progress=False)
    resumed, made_whole = numbers(rd.path), numbers(whole.run_dir)
    assert resumed["corpus"].pop("path") != made_whole["corpus"].pop("path")     # the copy the worker read
    assert resumed == made_whole


@pytest.mark.parametrize("name", ["../escaped", "/etc/passwd", "failed/../../x", ".lock", ".labrnn", "a/b",
                                  "failed", "failed/", "./run.json", "a\\b", "", "failed/.x", "run.json\x00"])
def test_a_worker_cannot_write_outside_the_run_directory(name, tmp_path):
    from labrnn.sweeps import task
    rd = RunDir(tmp_path / "reports" / "run").make()
    (rd / "run.json").write_text("mine")
    with pytest.raises(labrnn.RunDirError, match="no file of a run directory"):
        task.publish(rd, {"run.json": b"theirs", name: b"x"})
    assert (rd / "run.json").read_text() == "mine"          # nothing of it was written
    assert sorted(p.name for p in tmp_path.rglob("*")) == [".labrnn", ".labrnn", "reports", "run", "run.json"]


def test_published_files_replace_the_run_with_the_key_last(tmp_path):
    from labrnn.sweeps import task
    rd = RunDir(tmp_path / "run").make()
    (rd / "report.pdf").write_text("an older render's")
    (rd / "failed").mkdir()
    (rd / "failed" / "old.ipynb").write_text("{}")
    task.publish(rd, {"key.json": b"{}", "run.json": b"{}", "failed/1-gradient-check.ipynb": b"{}"})
    assert sorted(p.relative_to(rd.path).as_posix() for p in rd.path.rglob("*") if p.name != ".lock") == \
        [".labrnn", "failed", "failed/1-gradient-check.ipynb", "key.json", "run.json"]


# -- a teacher's sweep over a folder of submissions ----------------------------------------------------------
MODELS = Path(__file__).resolve().parent / "models"


def test_a_teachers_sweep_gives_one_row_per_submission(genesis, tiny_argv, tmp_path, capsys):
    """MODEL=submissions/: every .py file a report and a row with its verdict per parameter and its diagnosis;
    a file that does not import is a row that says so; a name with a space is one file."""
    subs = tmp_path / "class of 2026"
    subs.mkdir()
    for src, dst in [("correct_columns", "alice smith"), ("mistake_no_bptt", "bob"), ("bad_import", "carol"),
                     ("mistake_transposed", "dave"), ("cheat_loss", "eve"), ("cheat_small_m", "frank")]:
        shutil.copy(MODELS / f"{src}.py", subs / f"{dst}.py")
    (subs / "notes.txt").write_text("not a submission")
    reports = tmp_path / "reports"
    code = main(["sweep", *tiny_argv(steps=60, sample_every=30, sample_until=60), f"--data={genesis}",
                 f"--model={subs}", f"--reports={reports}", "--jobs=2"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"model=carol.py: FAILED: {subs / 'carol.py'}:" in err and "numpy_but_faster" in err
    page, = reports.glob("sweep-*/comparison.html")
    text = page.read_text(encoding="utf-8")
    table = text[text.index('<table class="runs"'):text.index("</table>")]
    raw = {re.search(r'data-v="([\w ]+\.py)"', r).group(1): r for r in re.findall(r"<tr.*?</tr>", table, re.S)[1:]}
    rows = {name: re.sub(r"<[^>]+>", "|", r) for name, r in raw.items()}
    assert sorted(rows) == ["alice smith.py", "bob.py", "carol.py", "dave.py", "eve.py", "frank.py"]
    assert "|pass|" in rows["alice smith.py"] and "|correct|" in rows["alice smith.py"]
    assert "|FAIL W U b|" in rows["bob.py"] and "|no BPTT|" in rows["bob.py"]
    assert "|FAIL W|" in rows["dave.py"] and "|dW transposed|" in rows["dave.py"]
    assert "did not run:" in rows["carol.py"] and "ModuleNotFoundError" in rows["carol.py"]
    assert "|loss wrong|" in rows["eve.py"]                          # it returns 0.001: ranked by labrnn's loss
    assert "|pass|" in rows["frank.py"] and "|wrong at m = 8 only (no BPTT)|" in rows["frank.py"]
    for name in ("alice smith.py", "bob.py", "dave.py"):       # each links its report, and that report names the file
        link = re.search(r'href="([^"]+)"', raw[name]).group(1)
        report = (page.parent / urllib.parse.unquote(link)).resolve()
        assert name in report.read_text(encoding="utf-8")
    record = json.loads((page.parent / "sweep.json").read_text(encoding="utf-8"))
    assert {r["model"]["name"]: r["diagnosis"] for r in record["runs"]} == \
        {"alice smith.py": "correct", "bob.py": "no BPTT", "dave.py": "dW transposed", "eve.py": "loss wrong",
         "frank.py": "wrong at m = 8 only (no BPTT)"}
    lows = {r["model"]["name"]: r["min_smooth_loss"] for r in record["runs"]}
    assert lows["eve.py"] == pytest.approx(lows["alice smith.py"], rel=1e-6)    # the same gradients: the same run
    assert [f["model"] for f in record["failed"]] == [str(subs / "carol.py")]
    with open(page.parent / "grades.csv", encoding="utf-8-sig", newline="") as fh:      # the last line counts as it does
        status = {row["file"]: row["status"] for row in csv.DictReader(fh)}
    assert err.strip().splitlines()[-1] == "5 of 6 failed: " + "; ".join(
        f"model={name} ({status[name]})" for name in ("bob.py", "carol.py", "dave.py", "eve.py", "frank.py"))
    assert status["alice smith.py"] == "passed" and status["carol.py"] == "did not run" and status["bob.py"] == "failed"


@pytest.mark.parametrize("folder, says", [("empty", "is a directory without .py files"),
                                          ("mistyped/", "mistyped: no such file or directory")])
def test_a_folder_without_submissions_is_refused_in_one_line(genesis, tiny_argv, tmp_path, capsys, folder, says):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", *tiny_argv(), f"--data={genesis}", f"--model={tmp_path / folder}",
              f"--reports={tmp_path / 'r'}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert says in err and err.strip().count("\n") == 0
    assert not (tmp_path / "r").exists()
