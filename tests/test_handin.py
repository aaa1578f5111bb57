"""The hand-in (labrnn.report.handin): AUTHOR, TITLE, COURSE and TEXT only re-render; the student's Markdown lands
where its headings say, its math renders (MathML in HTML, LaTeX math in the PDF), its citations are this run's
numbers, and its words stay data; MODEL's code is listed with its sha256."""
import hashlib
import shutil
import subprocess

import nbformat
import pytest

import labrnn
from labrnn.report import handin, pipeline
from labrnn.settings import ConfigError

TEXT = r"""# Introduction

A vanilla RNN on *{{ corpus }}*. <script>alert(1)</script> & \textbf{not LaTeX} {braces} 100% #1 _x_

$$
L = -\sum_{t=1}^{\tau} \log p_t[y_t], \quad p_t = \frac{\exp(o_t)}{\sum_k \exp(o_{t,k})}
$$

# Results of mine

Text after the results.

# Discussion

The minimum smooth loss was {{ best.smooth_loss }} after {{ steps }} steps; in math $x^{{2}}$ stays LaTeX.

$$
h_t = \tanh(W h_{t-1} + U x_t + b)
$$
"""


def _text(write, source, holdout=0.05):
    return handin.read_text(str(write(source, "my-report.md")), holdout)


@pytest.mark.fast
def test_whose_report_is_not_part_of_the_run(genesis):
    plain = labrnn.Settings(data=str(genesis))
    mine = labrnn.Settings(data=str(genesis), author="Ada Lovelace", title="Assignment 4", course="DD2424",
                           text="my-report.md")
    corpus = {"name": "g", "sha256": "0" * 64}
    assert plain.numbers() == mine.numbers()
    assert plain.name(corpus) == mine.name(corpus)
    with pytest.raises(ConfigError, match="author must be one line"):
        labrnn.Settings(author="Ada\nLovelace")


@pytest.mark.fast
@pytest.mark.parametrize("source, message", [
    ("# Discussion\n\nfine\n\nloss {{ best.smoth_loss }}\n", r"line 5: no number is named 'best.smoth_loss'"),
    ("intro\n\n$$\n\\input{/etc/passwd}\n$$\n", r"line 3: \\input is not a math command"),
    ("# Intro\n\n$a % b$\n", r"line 3: % is not math"),
    ("# Intro\n\n$\\begin{verbatim}x\\end{verbatim}$\n", "line 3: the environment 'verbatim'"),
    ("held out {{ heldout }}\n", "line 1: .* HOLDOUT is 0"),
])
def test_a_text_that_cannot_be_used_is_one_line_naming_its_line(write, source, message):
    with pytest.raises(handin.HandinError, match=message) as err:
        _text(write, source, holdout=0.0)
    assert "\n" not in str(err.value) and "my-report.md" in str(err.value)


@pytest.mark.fast
def test_sections_go_where_their_headings_say(write):
    text = _text(write, TEXT)
    assert [(s.title, s.place) for s in text.sections] == [
        ("Introduction", "introduction"), ("Results of mine", "results"), ("Discussion", "discussion")]
    assert text.sha256 == hashlib.sha256(TEXT.encode()).hexdigest()


class _Run:
    """What citations read of a run."""
    class best:
        smooth_loss, step, word_share = 43.216, 1200, 0.5
    corpus = {"name": "Genesis <i>", "K": 40}
    steps_done = 3000


@pytest.mark.fast
def test_their_words_are_data_and_citations_are_numbers(write):
    intro, _, discussion = _text(write, TEXT).sections
    html_intro = str(handin._html(handin._cite(intro.tokens, _Run)))
    assert "<script>" not in html_intro and "&lt;script&gt;" in html_intro
    assert "Genesis &lt;i&gt;" in html_intro
    assert "<math" in html_intro and "<mfrac>" in html_intro
    latex = handin._latex(intro.tokens)
    assert r"\textbackslash{}textbf\{not LaTeX\}" in latex and r"100\%" in latex and r"\#1" in latex
    assert r"\frac{\exp(o_t)}{\sum_k \exp(o_{t,k})}" in latex        # their math, native
    tokens = handin._cite(discussion.tokens, _Run)
    assert "was 43.22 after 3,000 steps" in str(handin._html(tokens))
    assert "$x^{{2}}$" in handin._latex(tokens)                      # LaTeX's braces, never a citation


@pytest.mark.fast
def test_insert_places_title_byline_sections_and_listing(write, tmp_path):
    from labrnn.student.sandbox import read_model
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# labrnn's title\n\nour introduction"),
        nbformat.v4.new_markdown_cell("## Gradient check\n\n..."),
        nbformat.v4.new_code_cell("render.best_passage(run)"),
        nbformat.v4.new_code_cell("render.appendix(run)")])
    model = read_model(str(write("def loss_and_grads(params, x, y, h0):\n    return '<b>'\n", "my_rnn.py")))
    hand = handin.Handin("Ada <Lovelace>", "Assignment 4", "DD2424", _text(write, TEXT), model)
    handin.insert(nb, hand, _Run)
    order = [c.source.splitlines()[0] if c.source else c.outputs[0]["data"]["text/plain"].splitlines()[0]
             for c in nb.cells]
    assert order == ["# Assignment 4", "Ada <Lovelace> · DD2424", "our introduction", "## Introduction",
                     "Introduction", "## Gradient check", "render.best_passage(run)", r"## Results of mine",
                     "Results of mine", "## Discussion", "Discussion", "Appendix: the code of my_rnn.py",
                     "render.appendix(run)"]
    assert "Ada &lt;Lovelace&gt;" in nb.cells[1].outputs[0]["data"]["text/html"]
    listing = nb.cells[-2].outputs[0]["data"]
    assert model.sha256 in listing["text/html"] and model.sha256 in listing["text/latex"]
    assert "&#39;&lt;b&gt;&#39;" in listing["text/html"] or "&lt;b&gt;" in listing["text/html"]


def test_the_hand_in_rerenders_only_and_cites_the_run(tiny, tmp_path, write, require):
    """Done-when of issue 21 on the tiny corpus: HTML and PDF with title, byline, sections, math and the code
    appendix; another AUTHOR or TEXT re-renders without training; another ETA trains and the cited number
    follows it."""
    text = write(TEXT, "my-report.md")
    model = shutil.copy(labrnn.__path__[0] + "/../tests/models/loop_rnn.py", tmp_path / "my_rnn.py")
    fmt = ("html", "pdf") if shutil.which("xelatex") else ("html",)
    mine = dict(author="Ada Lovelace", title="Assignment 4", course="DD2424", text=str(text), model=str(model),
                reports=tmp_path / "reports", format=fmt)
    first = pipeline.make_report(tiny(**mine), log=lambda m: None)
    page = first.report.read_text(encoding="utf-8")
    cited = f"{first.run.best.smooth_loss:.2f}"
    assert f"The minimum smooth loss was {cited} after {first.run.steps_done:,} steps" in page
    for shown in ("Assignment 4", "Ada Lovelace · DD2424", "<math", "Appendix: the code of my_rnn.py",
                  hashlib.sha256(model.read_bytes()).hexdigest()):
        assert shown in page, shown
    assert page.index('id="Introduction"') < page.index('id="Gradient-check"') < page.index('id="Discussion"')
    assert "<script>alert" not in page and "<title>Assignment 4</title>" in page and "labrnn lab report" not in page
    index = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    assert "Assignment 4 · Ada Lovelace · DD2424" in index
    if "pdf" in fmt:
        pdf = subprocess.run([require("pdftotext"), "-layout", str(first.pdf), "-"], capture_output=True,
                             text=True, check=True).stdout
        assert "labrnn lab report" not in pdf and "Assignment 4" in pdf.split("Contents")[0] and "Ada Lovelace · DD2424" in pdf.split("Contents")[0]
        assert f"was {cited} after" in pdf and "Appendix: the code of my_rnn.py" in pdf

    again = pipeline.make_report(tiny(**{**mine, "author": "Grace Hopper"}), log=lambda m: None)
    assert not again.trained
    assert "Grace Hopper · DD2424" in again.report.read_text(encoding="utf-8")
    plain = pipeline.make_report(tiny(model=str(model), reports=tmp_path / "reports"), log=lambda m: None)
    assert not plain.trained and not (plain.run_dir / handin.RECORD).exists()     # the index names no one now
    assert "Grace Hopper" not in (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")

    other = pipeline.make_report(tiny(**{**mine, "eta": 0.05}), log=lambda m: None)
    assert other.trained and other.run.best.smooth_loss != first.run.best.smooth_loss
    assert f"was {other.run.best.smooth_loss:.2f} after" in other.report.read_text(encoding="utf-8")


def test_the_hand_in_renders_in_chromium(browser, tiny, tmp_path, write):
    from test_browser import assert_renders
    text = write(TEXT, "my-report.md")
    result = pipeline.make_report(tiny(author="Ada", title="A4", text=str(text), reports=tmp_path / "r"),
                                  log=lambda m: None)
    assert_renders(browser, result.report, tmp_path / "handin.png")
    page = browser.new_page()
    page.goto(result.report.as_uri())
    assert page.locator("math").count() >= 3
    assert page.locator("math[display=block]").first.bounding_box()["height"] > 20     # typeset, not raw text
    page.close()


LEAKY = '''
_calls = 0
_lab = loss_and_grads


def loss_and_grads(params, x, y, h0):
    """loop_rnn's, printing where it runs and who runs it, then failing in training with a traceback."""
    global _calls
    import getpass, os, socket
    if params["W"].shape[0] == 8:
        _calls += 1
    if _calls == 1:
        try:
            user = getpass.getuser()
        except Exception:
            user = "?"
        print("here:", __file__, os.getcwd(), socket.gethostname(), user, os.path.expanduser("~"))
    if _calls > 120:
        raise ValueError("broke in " + __file__)
    return _lab(params, x, y, h0)
'''


def _private_words(tmp_path) -> list[str]:
    import getpass
    import socket
    from pathlib import Path
    words = [str(Path.home()), str(tmp_path), str(Path(labrnn.__file__).resolve().parent.parent)]
    return words + [w for w in (getpass.getuser(), socket.gethostname()) if len(w) >= 3]


def _leaks(text: str, words: list[str]) -> list[str]:
    import re
    text = re.sub(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+", "", text)     # figures: bytes, not words
    text = re.sub(r"<(style|script)\b.*?</\1>", "", text, flags=re.S)      # CSS's :root is no user name
    return [w for w in words if re.search(rf"(?<![\w]){re.escape(w)}(?![\w])", text)]


def test_nothing_private_in_the_shared_files(tiny, tmp_path, require):
    """A student's file that prints its path, the working directory, host and user, then fails in training
    with a traceback: report.html, report.pdf and the index name no absolute path, home, user or host."""
    source = (labrnn.__path__[0] + "/../tests/models/loop_rnn.py")
    model = tmp_path / "my_rnn.py"
    model.write_text(open(source).read() + LEAKY)
    fmt = ("html", "pdf") if shutil.which("xelatex") else ("html",)
    result = pipeline.make_report(tiny(model=str(model), reports=tmp_path / "reports", format=fmt),
                                  log=lambda m: None)
    assert result.run.broken is not None                     # the traceback is in the report
    page = result.report.read_text(encoding="utf-8")
    assert "here:" in page and "broke in" in page and "my_rnn.py" in page
    words = _private_words(tmp_path)
    assert _leaks(page, words) == []
    assert _leaks((tmp_path / "reports" / "index.html").read_text(encoding="utf-8"), words) == []
    from labrnn.sweeps.comparison import compare
    comparison = compare([result.run_dir], tmp_path / "reports")
    assert "my_rnn" in comparison.read_text(encoding="utf-8") or "my-rnn" in comparison.read_text(encoding="utf-8")
    assert _leaks(comparison.read_text(encoding="utf-8"), words) == []
    assert "beside this file" not in page
    if "pdf" in fmt:
        pdf = subprocess.run([require("pdftotext"), str(result.pdf), "-"], capture_output=True, text=True,
                             check=True).stdout
        assert "broke in" in pdf and _leaks(pdf, words) == []
        raw = result.pdf.read_bytes().decode("latin-1")
        assert [w for w in words if w.startswith("/") and w in raw] == []


@pytest.mark.fast
def test_public_names_files_and_hides_the_machine():
    import getpass
    from pathlib import Path

    from labrnn.report.public import public
    home = str(Path.home())
    text = (f'File "/srv/class/ann/my_rnn.py", line 3\n  {home}/notes.txt /usr/lib/python3/site-packages/np/a.py:12 '
            f"{getpass.getuser()}")
    shown = public(text, {"/srv/class/ann/my_rnn.py": "my_rnn.py"})
    assert shown.startswith('File "my_rnn.py", line 3') and "~/notes.txt" in shown and " a.py:12" in shown
    assert "/srv" not in shown and "/usr" not in shown and home not in shown
    assert public("a/b and 1/2 stay") == "a/b and 1/2 stay"


def test_holdout_0_gives_a_report_without_held_out_parts(tiny, tmp_path):
    """HOLDOUT=0 (0.0, -0 alike) once failed in notebook 2; now the report says why nothing is held out."""
    corpus = {"name": "g", "sha256": "0" * 64}
    assert tiny(holdout=-0.0).name(corpus) == tiny(holdout=0).name(corpus) == tiny(holdout=0.0).name(corpus)
    result = pipeline.make_report(tiny(holdout=-0.0, reports=tmp_path / "reports"), log=lambda m: None)
    page = result.report.read_text(encoding="utf-8")
    assert "HOLDOUT=0 trains on the whole corpus" in page
    assert "held-out bits/char" not in page and "held-out nats/char" not in page
    assert "Figure 2" not in page


HEADING = (r"(Step [\d,]+|Best model, step [\d,]+) · smooth loss|Table \d+b?:|Figure \d+:|Contents$|Run summary$|"
           r"Gradient check$|Against the reference$|Training$|Held-out loss$|Evolution of the synthesized text$|"
           r"The best model$|Introduction$|Results of mine$|Discussion$|Appendix")


def _pages(pdftotext, pdf) -> list[list[str]]:
    """Each page's lines as pdftotext -layout reads them, blank lines and page numbers dropped."""
    import re
    text = subprocess.run([pdftotext, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return [[line.strip() for line in page.splitlines() if line.strip() and not re.fullmatch(r"\s*\d+\s*", line)]
            for page in text.split("\f") if page.strip()]


def test_the_pdf_is_print_ready(tiny, tmp_path, write, require):
    """Title block first; no heading, table caption or sample heading last on a page; every figure on the page
    of its caption. Many samples, so that page breaks fall among them."""
    import re
    require("xelatex")
    pdftotext, pdfimages = require("pdftotext"), require("pdfimages")
    settings = tiny(author="Ada Lovelace", title="Assignment 4", course="DD2424", text=str(write(TEXT, "t.md")),
                    steps=3000, sample_every=100, sample_until=3000, format=("html", "pdf"),
                    reports=tmp_path / "reports")
    pdf = pipeline.make_report(settings, log=lambda m: None).pdf
    pages = _pages(pdftotext, pdf)
    assert len(pages) > 6
    assert pages[0][0] == "Assignment 4" and "Ada Lovelace · DD2424" in pages[0][:6]      # the title block first
    toc = next(i for i, p in enumerate(pages) if "Contents" in p)
    for number, page in enumerate(pages[:-1], 1):
        if number - 1 > toc:
            assert not re.match(HEADING, page[-1]), f"page {number} ends with a heading: {page[-1]!r}"
    images = subprocess.run([pdfimages, "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    on = [int(line.split()[0]) for line in images.splitlines()[2:] if line.split()[2] == "image"]
    captions = [n for n, page in enumerate(pages, 1) for line in page if re.match(r"Figure \d+:", line)]
    assert on == captions and len(on) == 3


@pytest.mark.fast
def test_an_unknown_citation_exits_2_in_one_line_and_writes_nothing(write, tmp_path, tiny_argv, genesis, capsys):
    from labrnn.cli import main
    text = write("# Discussion\n\nThe loss was {{ best.loss }}.\n", "my-report.md")
    with pytest.raises(SystemExit) as exit_:
        main(["report", *tiny_argv(), f"--data={genesis}", f"--text={text}", f"--reports={tmp_path / 'r'}"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1
    assert "my-report.md line 3: no number is named 'best.loss'" in err
    assert not (tmp_path / "r").exists()
