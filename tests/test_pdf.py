"""report.pdf end to end, read back with pdftotext: the same content as report.html, generated text
typeset literally (LaTeX specials, control characters, characters no font has), and a clear line
with report.html still written when xelatex is missing."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from labrnn.report import pdf, pipeline, render
from labrnn.cli import build_parser, main

SPECIALS = "\\{}$%#&_^~"
HOSTILE = "a\\b {c} $1 50% #2 & x_y ^ ~ \x07 \t 😀 漢字 é 'q' `r` \"s\" <t> -- |\n"
MISSING = {"😀": "U+1F600", "漢": "U+6F22", "字": "U+5B57"}      # in no monospace font TeX uses


@pytest.fixture(scope="session")
def pdf_text(require):
    def read(path: Path) -> str:
        done = subprocess.run([require("pdftotext"), "-layout", "-enc", "UTF-8", str(path), "-"],
                              capture_output=True, text=True, check=True)
        return done.stdout
    return read


@pytest.fixture(scope="module")
def made(tiny, require, tmp_path_factory):
    require("xelatex")
    messages = []
    result = pipeline.make_report(tiny(reports=tmp_path_factory.mktemp("pdf"), format=("html", "pdf")),
                                  log=messages.append)
    return result.run_dir, messages


def test_pdf_has_what_the_html_has(made, pdf_text, require):
    run_dir, messages = made
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert (run_dir / "report.html").is_file()
    assert (run_dir / "report.pdf").read_bytes().startswith(b"%PDF-")
    assert not list(run_dir.glob(".report.pdf.*"))               # written under a temporary name, renamed
    text = pdf_text(run_dir / "report.pdf")
    for heading in ["A character-level vanilla RNN: lab report", "Contents", "Run summary", "Gradient check",
                    "Training", "Evolution of the synthesized text", "The best model"]:
        assert re.search(rf"^\s*{re.escape(heading)}\s*$", text, re.M), heading
    # pdftotext -layout sometimes sets a row's four exponents on a line of their own above it
    table = re.sub(r"^\s*((?:−\d+\s+){3}−\d+)\s*\n(\s*\w\s+)([\d.]+×10)\s+([\d.]+×10)\s+([\d.]+×10)\s+([\d.]+×10)",
                   lambda m: m.group(2) + "  ".join(b + e for b, e in zip(m.groups()[2:], m.group(1).split())),
                   text, flags=re.M)
    rows = re.findall(r"^\s*(\w)\s+[\d.]+×10−\d+\s+[\d.]+×10−\d+\s+[\d.]+×10−\d+\s+[\d.]+×10−\d+\s+(pass|FAIL)\s*$",
                      table, re.M)
    assert rows == [(p, "pass") for p in "WUVbc"]
    assert "Figure 1: smooth loss" in text and "Table 1: analytic against numerical gradients" in text
    steps = re.findall(r"^\f?Step ([\d,]+) · smooth loss (\d+\.\d\d)", text, re.M)     # \f: a page's first line
    assert steps == [(f"{s['step']:,}", f"{s['smooth_loss']:.2f}") for s in run["samples"]]
    assert re.search(rf"^\f?Best model, step {run['best']['step']:,} · smooth loss {run['best']['smooth_loss']:.2f}",
                     text, re.M)
    images = subprocess.run([require("pdfimages"), "-list", str(run_dir / "report.pdf")],
                            capture_output=True, text=True, check=True).stdout
    assert len(re.findall(r"^\s*\d+\s+\d+\s+image\s", images, re.M)) >= 1     # the loss plot, embedded
    assert any(re.search(r"\bpdf \d+\.\d s,", m) for m in messages if m.startswith("time: "))
    index = (run_dir.parent / "index.html").read_text(encoding="utf-8")
    assert f'<a href="./{run_dir.name}/report.pdf">PDF</a>' in index


def test_an_html_only_render_drops_the_stale_pdf(made, tiny):
    run_dir, _ = made
    pipeline.make_report(tiny(reports=run_dir.parent), log=lambda _: None)
    assert (run_dir / "report.html").is_file() and not (run_dir / "report.pdf").exists()
    assert "report.pdf" not in (run_dir.parent / "index.html").read_text(encoding="utf-8")


def test_generated_text_is_typeset_literally(tiny, require, pdf_text, tmp_path):
    require("xelatex")
    data = tmp_path / "hostile.txt"
    data.write_text(HOSTILE * 40, encoding="utf-8")
    path = pipeline.make_report(tiny(data, best_len=400, reports=tmp_path / "reports", format=("pdf",)),
                                log=lambda m: None).report
    run = json.loads((path.parent / "run.json").read_text(encoding="utf-8"))
    text = pdf_text(path.parent / "report.pdf")
    generated = "".join(s["text"] for s in run["samples"]) + run["best"]["text"]
    present = [ch for ch in SPECIALS if ch in generated]
    assert len(present) >= 5                        # the corpus is full of them; the model writes some
    assert [ch for ch in present if ch not in text] == []
    assert "\x07" in generated and "\\x07" in text and "\x07" not in text
    text = re.sub(r"^\s*\d+\s*\f", "", text, flags=re.M)     # a passage may run across a page: drop the page number
    shown = re.sub(r"\s|[␣↪]", "", text)           # line wrapping may add a visible space and an arrow
    best = "".join(MISSING.get(ch, ch) for ch in render.escape(run["best"]["text"], "plain"))
    assert re.sub(r"\s", "", best) in shown


def test_a_divergence_is_stated_above_the_summary(tiny, require, pdf_text, tmp_path):
    require("xelatex")
    settings = tiny(eta=50, steps=3000, sample_every=1000, sample_until=3000, reports=tmp_path / "reports",
                    format=("pdf",))
    path = pipeline.make_report(settings, log=lambda m: None).report
    step = json.loads((path.parent / "run.json").read_text(encoding="utf-8"))["diverged"]["step"]
    text = pdf_text(path.parent / "report.pdf")
    top = re.sub(r"\s+", " ", text[:text.index("Run summary")])
    assert f"Training diverged at step {step:,}" in top


def test_latex_escape():
    assert render.escape("\\{}$%#&_^~", "latex") == (r"\textbackslash{}\{\}\$\%\#\&\_\textasciicircum{}"
                                                      r"\textasciitilde{}")
    assert render.escape("a\x07b\tc\nd", "latex") == "a\\labrnnctl{07}b\tc\nd"
    assert render.escape("😀é--", "latex") == r"\labrnnchar{1F600}\labrnnchar{E9}-{}-{}"


def test_missing_xelatex_names_the_install_and_still_writes_the_html(genesis, tiny_argv, tmp_path, monkeypatch,
                                                                     capsys):
    which = shutil.which
    monkeypatch.setattr(pdf.shutil, "which", lambda tool, *a, **k: None if tool == "xelatex" else which(tool, *a, **k))
    argv = ["report", "--data", str(genesis), *tiny_argv(), "--run-dir", str(tmp_path / "run"), "--format", "html pdf"]
    assert main(argv) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1
    assert errors[0].startswith("labrnn report: error: report.pdf not made: xelatex not found")
    assert "sudo apt-get install texlive-xetex" in errors[0] and "brew install --cask mactex-no-gui" in errors[0]
    assert (tmp_path / "run" / "report.html").is_file()
    assert not list((tmp_path / "run").glob("*report.pdf*"))


def test_format_takes_space_separated_names():
    parser = build_parser()
    assert parser.parse_args(["report", "--format", "html pdf"]).format == ("html", "pdf")
    assert parser.parse_args(["report", "--format", "pdf"]).format == ("pdf",)


def test_a_latex_error_is_one_line_and_leaves_no_pdf(require, tmp_path):
    require("xelatex")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Broken\n\n## Section"),
                                         nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output(
                                             "execute_result", {"text/latex": r"\undefinedmacro", "text/plain": ""},
                                             execution_count=1)])])
    nbformat.write(nb, tmp_path / "broken.ipynb")
    with pytest.raises(pdf.PdfError) as exc:
        pdf.export_pdf([tmp_path / "broken.ipynb"], tmp_path / "report.pdf", "broken")
    assert "Undefined control sequence" in str(exc.value) and "\n" not in str(exc.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.ipynb"]
