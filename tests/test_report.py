"""The report pipeline end to end, with tiny parameters: what a reader of report.html needs,
generated text rendered as text, the train-once cache, bad input and failing notebooks."""
import ast
import base64
import json
import os
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import nbformat
import papermill
import pytest

from labrnn.report import pipeline, render
from labrnn.cli import main
from labrnn.report.run import ReportError
from labrnn.report.execute import NOTEBOOKS, notebook_dir
from labrnn.report.rundir import RunDir
from labrnn.settings import DEFAULTS, Settings, meta

HOSTILE = "<script>alert(1)</script> </pre> <b>x</b> & \x07 \x1b[31m\n"


@pytest.fixture(scope="module")
def made(tiny_report, tmp_path_factory):
    """The session's tiny report, copied for the tests here (some change it): its result and the log."""
    run_dir, messages = tiny_report
    reports = tmp_path_factory.mktemp("reports")
    shutil.copytree(run_dir.parent, reports, dirs_exist_ok=True)
    copy = reports / run_dir.name
    return pipeline.ReportResult(copy / RunDir.REPORT, RunDir(copy).load_run(), trained=True), messages


def test_report_has_what_a_reader_needs(made, pre_blocks):
    result, messages = made
    path = result.report
    page = path.read_text(encoding="utf-8")
    run = json.loads((path.parent / "run.json").read_text(encoding="utf-8"))
    table = re.search(r'<table class="gradcheck">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    assert re.findall(r"<tr><td><b>(\w)</b>", table) == ["W", "U", "V", "b", "c"]
    assert table.count(">pass</span>") == 5
    png = re.search(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page).group(1)
    assert base64.b64decode(png).startswith(b"\x89PNG\r\n\x1a\n")
    assert "<figcaption>Figure 1: smooth loss" in page
    headings = re.findall(r'<h4 class="sample-heading">Step ([\d,]+) · smooth loss \d+\.\d\d · '
                          r'held-out \d\.\d\d bits/char · \d+% corpus words \(chance \d+\.\d%\)</h4>', page)
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
    for name in NOTEBOOKS:
        assert (path.parent / name).is_file()
    assert any(m.startswith("time: corpus") and " updating " in m and " sampling " in m and " scoring " in m
               and " notebooks " in m for m in messages)


def test_the_contents_link_to_every_section(made):
    path = made[0].report
    page = path.read_text(encoding="utf-8")
    nav = re.search(r'<nav [^>]*class="toc"[^>]*><p>Contents</p><ol>(.*?)</ol></nav>', page, re.S)
    links = re.findall(r'<li><a href="#([^"]+)">([^<]+)</a></li>', nav.group(1))
    assert links == re.findall(r'<h2 id="([^"]+)">([^<]+)<a class="anchor-link"', page)
    assert [title for _, title in links] == ["Run summary", "Gradient check", "Training",
                                             "Evolution of the synthesized text", "The best model"]
    assert page.index("<h1") < nav.start() < page.index("<h2")        # after the title, before the first section


def test_index_lists_the_report(made):
    path = made[0].report
    index = (path.parent.parent / "index.html").read_text(encoding="utf-8")
    run = json.loads((path.parent / "run.json").read_text(encoding="utf-8"))
    assert f'href="./{path.parent.name}/report.html"' in index
    assert f"{run['best']['smooth_loss']:.2f}" in index


def test_same_settings_reuse_the_run_and_force_retrains(made, tiny):
    reports = made[0].run_dir.parent
    npz = made[0].run_dir / "run.npz"
    before = os.stat(npz).st_ino
    again = pipeline.make_report(tiny(reports=reports), log=lambda m: None)
    assert os.stat(npz).st_ino == before and not again.trained and again.report == made[0].report
    messages = []
    forced = pipeline.make_report(tiny(reports=reports, force=True), log=messages.append)
    assert forced.trained and {"corpus", "run", "notebooks", "export", "index"} <= forced.timings.keys()
    assert any(m.startswith("time:") and " updating " in m and "cached" not in m for m in messages)


def test_a_damaged_cached_run_is_trained_again(made, tiny, capfd):
    path = made[0].report
    (path.parent / "run.json").write_text("{ truncated", encoding="utf-8")
    assert pipeline.make_report(tiny(reports=path.parent.parent), log=lambda m: None).trained
    assert "is damaged; training it again" in capfd.readouterr().err
    assert json.loads((path.parent / "run.json").read_text(encoding="utf-8"))["steps_done"] == 300


def test_generated_text_is_rendered_as_text(tmp_path, tiny, pre_blocks):
    data = tmp_path / "hostile.txt"
    data.write_text(HOSTILE * 40, encoding="utf-8")
    path = pipeline.make_report(tiny(data, best_len=400, reports=tmp_path / "reports"), log=lambda m: None).report
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


def test_a_failing_notebook_leaves_no_report(tiny, tmp_path):
    notebooks = tmp_path / "notebooks"
    shutil.copytree(notebook_dir(), notebooks)
    broken = notebooks / "3-text-evolution.ipynb"
    nb = nbformat.read(broken, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('boom')"))
    nbformat.write(nb, broken)
    with pytest.raises(ReportError) as exc:
        pipeline.make_report(tiny(reports=tmp_path / "reports"), notebooks=notebooks, log=lambda m: None)
    message = str(exc.value)
    assert "3-text-evolution.ipynb" in message and "In [" in message and "RuntimeError: boom" in message
    partial = Path(message.rsplit("partly executed notebook: ", 1)[1])
    assert partial.is_file() and partial.name == "3-text-evolution.ipynb"
    run_dir = partial.parent.parent
    assert not (run_dir / "report.html").exists()
    assert not list(run_dir.glob("*.tmp")) and not list(run_dir.glob(".build-*"))


def test_every_notebook_parameter_is_a_setting_with_its_default():
    """The parameters cells follow labrnn.settings: the same names, the same defaults, in all four notebooks."""
    cells = []
    for name in NOTEBOOKS:
        params = papermill.inspect_notebook(str(notebook_dir() / name))
        cells.append({k: p["default"] for k, p in params.items()})
    assert all(c == cells[0] for c in cells)
    assert "run_dir" in cells[0] and "eta" in cells[0] and "seq_length" in cells[0]
    for k, default in cells[0].items():
        assert k in DEFAULTS, f"{k} is no setting"
        assert ast.literal_eval(default) == DEFAULTS[k], k          # the cell's literal, as papermill reads it
        assert meta(k).numbers or meta(k).file or k == "run_dir"


def test_a_notebook_on_its_own_makes_the_default_report_run():
    """Opened in JupyterLab and run as it is, a notebook describes the run `make report` makes by default."""
    params = papermill.inspect_notebook(str(notebook_dir() / NOTEBOOKS[0]))
    values = {k: ast.literal_eval(p["default"]) for k, p in params.items() if k != "run_dir"}
    assert Settings.of(values).numbers() == Settings().numbers()


def test_a_corpus_file_named_in_bytes_that_are_not_utf8(tmp_path, tiny, genesis_text):
    data = tmp_path / os.fsdecode(b"notes of the caf\xe9.txt")
    data.write_text(genesis_text, encoding="utf-8")
    result = pipeline.make_report(tiny(data, reports=tmp_path / "reports"), log=lambda m: None)
    record = json.loads((result.run_dir / "run.json").read_text(encoding="utf-8"))
    assert record["corpus"]["name"] == "notes of the caf\ufffd"
    assert "notes of the caf\ufffd" in result.report.read_text(encoding="utf-8")


FOREIGN = {
    "another tool": ({"params": [1, 2], "best": "x"}, {"key": {}, "data": None, "data_stamp": None,
                                                       "trained_at": "2024-01-01T00:00:00"}),
    "a date that is no date": (None, {"key": {}, "data": None, "data_stamp": None, "trained_at": "yesterday"}),
    "key.json of another shape": (None, ["not", "a", "key"]),
}


def test_foreign_files_in_a_sibling_are_skipped_with_one_warning(made, tiny, capfd):
    reports = made[0].run_dir.parent
    for name, (run_json, key_json) in FOREIGN.items():
        other = reports / name
        shutil.copytree(made[0].run_dir, other)
        if run_json is not None:
            (other / "run.json").write_text(json.dumps(run_json))
        (other / "key.json").write_text(json.dumps(key_json))
    capfd.readouterr()
    assert pipeline.make_report(tiny(reports=reports), log=lambda m: None).report.exists()
    warnings = [line for line in capfd.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == len(FOREIGN) and all("the index skips" in w for w in warnings)
    index = (reports / "index.html").read_text(encoding="utf-8")
    assert index.count("/report.html") == 1
    for name in FOREIGN:
        shutil.rmtree(reports / name)


@pytest.mark.parametrize("name", ["javascript:alert(1)", "a#b?c%d e"])
def test_index_links_are_percent_encoded_relative_urls(made, name, tiny):
    reports = made[0].run_dir.parent
    shutil.copytree(made[0].run_dir, reports / name)
    pipeline.make_report(tiny(reports=reports), log=lambda m: None)
    index = (reports / "index.html").read_text(encoding="utf-8")
    hrefs = re.findall(r'href="([^"]+)"', index)
    assert all(h.startswith("./") for h in hrefs), hrefs
    assert f'href="./{urllib.parse.quote(name, safe="")}/report.html"' in index
    shutil.rmtree(reports / name)


def test_a_threads_kept_exporter_writes_what_a_new_one_writes(tiny_report, tmp_path):
    """Each thread keeps one HTML exporter (its templates compiled once): a report it exports after others is
    byte for byte what a new exporter makes of it, and another thread has an exporter of its own."""
    import threading

    from labrnn.report import export
    paths = [tiny_report[0] / name for name in NOTEBOOKS]
    for i, title in enumerate(("first", "<b>second</b>", "first")):
        export.export_html(paths, tmp_path / f"{i}.html", title)
    kept = export._exporter()
    others = []
    thread = threading.Thread(target=lambda: others.append(export._exporter()))
    thread.start(), thread.join()
    assert others[0] is not kept and export._exporter() is kept
    del export._THREAD.exporter
    export.export_html(paths, tmp_path / "new.html", "first")
    assert export._exporter() is not kept
    assert (tmp_path / "new.html").read_bytes() == (tmp_path / "2.html").read_bytes()
    assert (tmp_path / "0.html").read_bytes() == (tmp_path / "2.html").read_bytes()
    assert b"&lt;b&gt;second&lt;/b&gt;" in (tmp_path / "1.html").read_bytes()
