"""The report pipeline end to end, with tiny parameters: what a reader of report.html needs,
generated text rendered as text, the train-once cache, bad input and failing notebooks."""
import base64
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from labrnn import render, report
from labrnn.execute import notebook_dir
from labrnn.cli import main

TEXT = ("In the beginning God created the heaven and the earth. And the earth was without form, and void; "
        "and darkness was upon the face of the deep.\nAnd God said, Let there be light: and there was light.\n")
HOSTILE = "<script>alert(1)</script> </pre> <b>x</b> & \x07 \x1b[31m\n"


def tiny(data, **kw) -> report.Params:
    return report.Params(**{"data": str(data), "eta": 0.1, "seq": 10, "m": 8, "steps": 300,
                            "sample_every": 100, "sample_until": 300, "sample_len": 60, "best_len": 150,
                            "grad_m": 3, **kw})


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "genesis.txt"
    path.write_text(TEXT * 30, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def made(corpus_file, tmp_path_factory):
    """One report, made once for the tests that read it."""
    reports = tmp_path_factory.mktemp("reports")
    messages = []
    path = report.make_report(tiny(corpus_file), reports, log=messages.append)
    return path, messages


def pre_blocks(page: str, cls: str) -> list[str]:
    """The generated texts as a browser shows them (the control-character and real-word tags dropped)."""
    blocks = re.findall(rf'<pre class="generated {cls}">(.*?)</pre>', page, re.S)
    return [html.unescape(re.sub(r'<span class="ctl"[^>]*>|</span>|<b class="word">|</b>', "", b)) for b in blocks]


def test_report_has_what_a_reader_needs(made):
    path, messages = made
    page = path.read_text(encoding="utf-8")
    run = json.loads((path.parent / "run.json").read_text(encoding="utf-8"))
    table = re.search(r'<table class="gradcheck">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    assert re.findall(r"<tr><td><b>(\w)</b>", table) == ["W", "U", "V", "b", "c"]
    assert table.count(">pass</span>") == 5
    png = re.search(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page).group(1)
    assert base64.b64decode(png).startswith(b"\x89PNG\r\n\x1a\n")
    assert "<figcaption>Figure 1: smooth loss" in page
    headings = re.findall(r'<h4 class="sample-heading">Step ([\d,]+) · smooth loss \d+\.\d\d · '
                          r'held-out \d\.\d\d bits/char · \d+% corpus words</h4>', page)
    assert headings == ["0", "100", "200", "300"]
    best = pre_blocks(page, "best")
    assert best == [run["best"]["text"]] and len(best[0]) == 150
    marked = re.findall(r'<b class="word">([^<]*)</b>', page)
    assert marked and all(w.isalpha() for w in marked)                  # real words in bold
    assert "<figcaption>Figure 2: smooth training loss per character and loss on held-out text" in page
    assert "<figcaption>Figure 3: share of the words" in page
    assert len(re.search(r'<table class="evolution">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
               .split("<tr>")) - 1 == len(run["samples"])
    assert re.search(r"<script[^>]*\ssrc=|<link[^>]*\shref=", page) is None
    assert "from labrnn import" not in page and "NBVAL" not in page      # no code, no nbval checks
    for name in report.NOTEBOOKS:
        assert (path.parent / name).is_file()
    assert any(m.startswith("time: corpus") and " training " in m and " notebooks " in m for m in messages)


def test_index_lists_the_report(made):
    path, _ = made
    index = (path.parent.parent / "index.html").read_text(encoding="utf-8")
    run = json.loads((path.parent / "run.json").read_text(encoding="utf-8"))
    assert f'href="{path.parent.name}/report.html"' in index
    assert f"{run['best']['smooth_loss']:.2f}" in index


def test_same_parameters_reuse_the_run_and_force_retrains(made, corpus_file):
    path, _ = made
    npz = path.parent / "run.npz"
    before = os.stat(npz).st_ino
    messages = []
    report.make_report(tiny(corpus_file), path.parent.parent, log=messages.append)
    assert os.stat(npz).st_ino == before
    assert any(m.startswith("reusing the run") for m in messages)
    messages.clear()
    report.make_report(tiny(corpus_file), path.parent.parent, force=True, log=messages.append)
    assert not any(m.startswith("reusing") for m in messages)      # (a new run.npz may reuse the freed inode)
    assert any(m.startswith("time:") and " training " in m and "cached" not in m for m in messages)


def test_a_damaged_cached_run_is_trained_again(made, corpus_file, capfd):
    path, _ = made
    (path.parent / "run.json").write_text("{ truncated", encoding="utf-8")
    report.make_report(tiny(corpus_file), path.parent.parent, log=lambda m: None)
    assert "is damaged; training it again" in capfd.readouterr().err
    assert json.loads((path.parent / "run.json").read_text(encoding="utf-8"))["steps_done"] == 300


def test_generated_text_is_rendered_as_text(tmp_path):
    data = tmp_path / "hostile.txt"
    data.write_text(HOSTILE * 40, encoding="utf-8")
    path = report.make_report(tiny(data, best_len=400), tmp_path / "reports", log=lambda m: None)
    page = path.read_text(encoding="utf-8")
    run = json.loads((path.parent / "run.json").read_text(encoding="utf-8"))
    assert "<script" not in page and "<b>x</b>" not in page
    assert page.count("<pre") == page.count("</pre>")
    shown = pre_blocks(page, "sample")
    expected = [render.escape(s["text"], "plain") for s in run["samples"]]
    assert shown == expected


def test_escape_makes_markup_and_control_characters_visible():
    assert render.escape("<script>a&b</script>") == "&lt;script&gt;a&amp;b&lt;/script&gt;"
    assert render.escape("a\x07b\tc\nd", "plain") == "a\\x07b\tc\nd"
    assert '\\x1b</span>' in render.escape("\x1b[31m")


@pytest.mark.parametrize("argv, message", [
    (["--eta", "abc"], "argument --eta: not a number: 'abc'"),
    (["--seq", "0"], "seq_length must be an integer >= 1"),
    (["--data", "{tmp}/missing.txt"], "corpus file not found"),
    (["--format", "docx"], "unknown format docx"),
])
def test_bad_input_fails_in_one_line_before_any_notebook(argv, message, tmp_path, capsys):
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        main(["report", *[a.format(tmp=tmp_path) for a in argv], "--run-dir", str(run_dir)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2
    assert len(err) == 1 and err[0].startswith("labrnn report: error: ") and message in err[0]
    assert not run_dir.exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_report_maps_variables_to_flags(tmp_path):
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(["make", "-s", "-C", str(root), "report", "ETA=abc", f"RUN_DIR={tmp_path / 'r'}"],
                          capture_output=True, text=True)
    assert done.returncode != 0
    assert "labrnn report: error: argument --eta: not a number: 'abc'" in done.stderr.splitlines()


def test_a_failing_notebook_leaves_no_report(corpus_file, tmp_path):
    notebooks = tmp_path / "notebooks"
    shutil.copytree(notebook_dir(), notebooks)
    broken = notebooks / "3-text-evolution.ipynb"
    nb = nbformat.read(broken, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('boom')"))
    nbformat.write(nb, broken)
    with pytest.raises(report.ReportError) as exc:
        report.make_report(tiny(corpus_file), tmp_path / "reports", notebooks=notebooks, log=lambda m: None)
    message = str(exc.value)
    assert "3-text-evolution.ipynb" in message and "In [" in message and "RuntimeError: boom" in message
    partial = Path(message.rsplit("partly executed notebook: ", 1)[1])
    assert partial.is_file() and partial.name == "3-text-evolution.ipynb"
    run_dir = partial.parent.parent
    assert not (run_dir / "report.html").exists()
    assert not list(run_dir.glob("*.tmp")) and not list(run_dir.glob(".build-*"))
