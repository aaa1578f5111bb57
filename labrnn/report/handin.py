"""The hand-in: what makes labrnn's report a student's own (AUTHOR, TITLE, COURSE, TEXT, their MODEL's code).

None of it changes the run: these settings are not numbers, so they stay out of the cache key and the run
name, and changing them only re-renders.  The parts are added to the merged notebook at export (`insert`),
after the notebooks ran, as display cells that carry HTML and LaTeX made here.

The student's text is data.  It is read as CommonMark with raw HTML off (markdown-it-py), so no tag of theirs
reaches report.html, and typeset for LaTeX by `_latex`, which escapes every character of their text.  Math
between `$...$` and `$$...$$` (mdit-py-plugins' dollarmath) becomes MathML in the HTML (latex2mathml: offline,
no pandoc, no MathJax) and LaTeX math in the PDF, restricted to the commands latex2mathml knows as math,
less those that define or read anything (`FORBIDDEN`).

Citations `{{ name }}` of this run's numbers (`CITED`) are a plain substitution in the text outside math and
code: `\\frac{a}{b}` and `x^{{2}}` in math are LaTeX's, never a citation.  A name not in `CITED` is refused
with its line before anything runs.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from markupsafe import Markup

from labrnn.iorw import atomic_write
from labrnn.report.render import CONTROL, Display, escape, visible
from labrnn.rnn.corpus import shown
from labrnn.settings import ConfigError

RECORD = "handin.json"          # beside report.html: what the index shows of whose report it is
CITATION = re.compile(r"\{\{\s*([^{}\s]*)\s*\}\}")
PLACES = {"introduction": "introduction", "discussion": "discussion", "conclusion": "discussion",
          "conclusions": "discussion"}           # a heading of another name goes after the results
CITED = {   # name: (what it is, its value from a Run, as the report prints it)
    "best.smooth_loss": ("the minimum smooth loss", lambda r: f"{r.best.smooth_loss:.2f}"),
    "best.step": ("the step where it was reached", lambda r: f"{r.best.step:,}"),
    "best.words": ("the best passage's share of corpus words", lambda r: f"{100 * r.best.word_share:.0f}%"),
    "final.smooth_loss": ("the smooth loss at the last step", lambda r: f"{r.curve[-1]:.2f}"),
    "heldout": ("the held-out loss at the last sample, bits per character",
                lambda r: f"{r.samples[-1].heldout_bits_per_char:.2f}"),
    "chance": ("the share of corpus words text has by chance", lambda r: f"{100 * r.chance_share:.1f}%"),
    "steps": ("the update steps done", lambda r: f"{r.steps_done:,}"),
    "epochs": ("the passes over the corpus done", lambda r: f"{r.epochs_done:.2f}".rstrip("0").rstrip(".")),
    "eta": ("the learning rate η", lambda r: f"{r.settings.eta:g}"),
    "seq_length": ("characters per update", lambda r: str(r.settings.seq_length)),
    "m": ("hidden units", lambda r: str(r.settings.m)),
    "sigma": ("the initial weights' standard deviation", lambda r: f"{r.settings.sigma:g}"),
    "seed": ("the seed", lambda r: str(r.settings.seed)),
    "K": ("distinct characters of the corpus", lambda r: str(r.corpus["K"])),
    "corpus": ("the corpus's name", lambda r: r.corpus["name"]),
}
FORBIDDEN = {r"\def", r"\newcommand", r"\renewcommand", r"\DeclareMathOperator", r"\href", r"\url", r"\input",
             r"\include", r"\write", r"\immediate", r"\catcode", r"\openout", r"\read", r"\csname", r"\special",
             r"\let", r"\edef", r"\gdef", r"\xdef", r"\class", r"\style", r"\color", r"\colorbox", r"\fcolorbox"}
ENVIRONMENTS = {"matrix", "pmatrix", "bmatrix", "Bmatrix", "vmatrix", "Vmatrix", "smallmatrix", "cases",
                "aligned", "split", "gathered", "array"}
MATH_TOKEN = re.compile(r"\\begin\{([^}]*)\}|\\[A-Za-z]+|\\.|\^\^|[%#]|.", re.DOTALL)


class HandinError(ConfigError):
    """The student's text cannot be used; the message names the file and line."""


def _math_commands() -> frozenset[str]:
    from latex2mathml import commands
    known = {v for k in dir(commands) if k.isupper() for v in _strings(getattr(commands, k))}
    return frozenset(c for c in known if re.fullmatch(r"\\[A-Za-z]+", c)) - FORBIDDEN


def _symbol(command: str) -> bool:
    """A symbol latex2mathml knows (\\tau, \\sum), which defines and reads nothing."""
    from latex2mathml.symbols_parser import convert_symbol
    return command not in FORBIDDEN and convert_symbol(command) is not None


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (tuple, list, set, frozenset, dict)):
        return [v for v in value if isinstance(v, str)]
    return []


def _parser():
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin
    md = MarkdownIt("commonmark", {"html": False})
    dollarmath_plugin(md, allow_labels=False, allow_digits=False, renderer=_mathml)
    return md


def _mathml(latex: str, options: dict) -> str:
    from latex2mathml.converter import convert
    return convert(latex, display="block" if options.get("display_mode") else "inline")


@dataclass
class Section:
    """One `#` section of their text: its heading, where it goes, and its body's tokens."""
    title: str
    place: str
    line: int
    tokens: list = field(default_factory=list)


@dataclass
class Text:
    """Their Markdown file, parsed and checked: its name, sha256 and sections."""
    name: str
    sha256: str
    sections: list[Section]


def read_text(path: str, holdout: float) -> Text:
    """Their TEXT file, parsed and checked before anything runs: a citation of an unknown name, math that is
    not math, or a file that is not UTF-8 is one HandinError naming the line."""
    p = Path(path).expanduser()
    try:
        raw = p.read_bytes()
        source = raw.decode("utf-8")
    except OSError as err:
        raise HandinError(f"TEXT {shown(path)}: cannot read it ({err.strerror or err})") from None
    except UnicodeDecodeError as err:
        raise HandinError(f"TEXT {shown(p.name)}: not UTF-8 (byte {err.start:,})") from None
    source = CONTROL.sub(lambda m: visible(m.group()), source.replace("\r\n", "\n"))
    tokens = _parser().parse(source)
    sections = _split(tokens)
    for section in sections:
        _check(section.tokens, p.name, holdout)
    return Text(p.name, hashlib.sha256(raw).hexdigest(), sections)


def _split(tokens: list) -> list[Section]:
    """The tokens cut at each level-1 heading; text before the first goes with the introduction."""
    sections: list[Section] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.type == "heading_open" and t.tag == "h1":
            title = tokens[i + 1].content.strip()
            sections.append(Section(title, PLACES.get(title.lower().strip(" .:"), "results"), t.map[0] + 1))
            i += 3
            continue
        if not sections:
            sections.append(Section("Introduction", "introduction", 1))
        sections[-1].tokens.append(t)
        i += 1
    return sections


def _check(tokens: list, name: str, holdout: float) -> None:
    commands = _math_commands()
    for block in tokens:
        if block.type == "math_block":
            _check_math(block.content, name, block.map[0] + 1, commands)
        for t in block.children or []:
            if t.type == "math_inline":
                _check_math(t.content, name, _line(block, t.content), commands)
            elif t.type == "text":
                for cited in CITATION.finditer(t.content):
                    where = f"TEXT {shown(name)} line {_line(block, cited.group())}"
                    if cited.group(1) not in CITED:
                        raise HandinError(f"{where}: no number is named {cited.group(1)!r}; the names are "
                                          f"{', '.join(CITED)}")
                    if cited.group(1) == "heldout" and not holdout > 0:
                        raise HandinError(f"{where}: {{{{ heldout }}}} needs a held-out share, and HOLDOUT is 0")


def _line(block, text: str) -> int:
    """The file's line (1-based) where `text` first stands in an inline block."""
    offset = block.content.find(text)
    return block.map[0] + 1 + (block.content[:offset].count("\n") if offset >= 0 else 0)


def _check_math(latex: str, name: str, line: int, commands: frozenset[str]) -> None:
    where = f"TEXT {shown(name)} line {line}"
    for m in MATH_TOKEN.finditer(latex):
        token = m.group()
        if token.startswith(r"\begin{") and m.group(1) not in ENVIRONMENTS:
            raise HandinError(f"{where}: the environment {m.group(1)!r} is not one for math here; use one of "
                              f"{', '.join(sorted(ENVIRONMENTS))}")
        if re.fullmatch(r"\\[A-Za-z]+", token) and token not in commands and not _symbol(token):
            raise HandinError(f"{where}: {token} is not a math command labrnn typesets")
        if token in ("%", "#", "^^"):
            raise HandinError(f"{where}: {token} is not math; write \\{token[0]} for the sign")
    try:
        _mathml(latex, {})
    except Exception as err:                # latex2mathml's own errors: whatever its parser raises
        raise HandinError(f"{where}: the math {shown(latex[:40])!r} cannot be read ({type(err).__name__})") \
            from None


def _cite(tokens: list, run) -> list:
    """The tokens with every citation in their text replaced by this run's number."""
    for block in tokens:
        for t in block.children or []:
            if t.type == "text":
                t.content = CITATION.sub(lambda m: CITED[m.group(1)][1](run), t.content)
    return tokens


def _shifted(tokens: list) -> list:
    """Their `##` headings one level down: inside their section, which is the report's level 2."""
    for t in tokens:
        if t.type in ("heading_open", "heading_close"):
            t.tag = f"h{min(6, int(t.tag[1]) + 1)}"
    return tokens


def _html(tokens: list) -> Markup:
    md = _parser()
    return Markup(md.renderer.render(tokens, md.options, {}))


_LATEX_OPEN = {"paragraph_open": "", "paragraph_close": "\n\n", "em_open": r"\emph{", "em_close": "}",
               "strong_open": r"\textbf{", "strong_close": "}", "bullet_list_open": "\\begin{itemize}\n",
               "bullet_list_close": "\\end{itemize}\n", "ordered_list_open": "\\begin{enumerate}\n",
               "ordered_list_close": "\\end{enumerate}\n", "list_item_open": r"\item ", "list_item_close": "\n",
               "blockquote_open": "\\begin{quote}\n", "blockquote_close": "\\end{quote}\n",
               "softbreak": "\n", "hardbreak": "\\\\\n", "hr": "\\par\\noindent\\rule{\\linewidth}{0.4pt}\n",
               "link_open": "", "link_close": "", "heading_close": "}\n\n"}
_LATEX_HEADING = {"h2": r"\subsection*{", "h3": r"\subsubsection*{", "h4": r"\paragraph{", "h5": r"\paragraph{",
                  "h6": r"\paragraph{"}


def _latex(tokens: list) -> str:
    """Their Markdown as LaTeX: every character of their text escaped, math as math, code verbatim."""
    out = []
    for t in tokens:
        if t.children is not None:
            out.append(_latex(t.children))
        elif t.type == "heading_open":
            out.append(_LATEX_HEADING.get(t.tag, r"\paragraph{"))
        elif t.type in _LATEX_OPEN:
            out.append(_LATEX_OPEN[t.type])
        elif t.type == "math_inline":
            out.append(f"${_tex_math(t.content)}$")
        elif t.type == "math_block":
            out.append(f"\\[{_tex_math(t.content)}\\]\n\n")
        elif t.type in ("fence", "code_block"):
            out.append(f"\\begin{{Verbatim}}[commandchars=\\\\\\{{\\}}]\n{escape(t.content, 'latex')}\n"
                       "\\end{Verbatim}\n\n")
        elif t.type == "code_inline":
            out.append(rf"\texttt{{{escape(t.content, 'latex')}}}")
        elif t.type == "image":
            out.append(escape(t.content, "latex"))
        else:                                     # text, and anything else by its text
            out.append(escape(t.content, "latex"))
    return "".join(out)


def _tex_math(latex: str) -> str:
    """Checked math (`_check_math`) for LaTeX: a blank line would end the paragraph inside it."""
    return re.sub(r"\n\s*\n", "\n", latex)


@dataclass(frozen=True)
class Handin:
    """Whose report it is and what of theirs it holds; every part optional."""
    author: str | None = None
    title: str | None = None
    course: str | None = None
    text: Text | None = None
    model_file: object | None = None        # the labrnn.student.sandbox.ModelFile the run read, for its listing

    @property
    def byline(self) -> str:
        return " · ".join(x for x in (self.author, self.course) if x)

    def record(self) -> dict:
        """What the index shows: the student's title, name and course."""
        return {"title": self.title, "author": self.author, "course": self.course}


def of(settings, model_file=None) -> Handin:
    """The hand-in the settings describe; their TEXT read and checked now, before anything runs."""
    text = read_text(settings.text, settings.holdout) if settings.text else None
    return Handin(settings.author, settings.title, settings.course, text, model_file)


def write_record(run_dir: Path, handin: Handin) -> None:
    """handin.json for the index, only when the report is someone's (a sweep's worker never writes one, so its
    run directory holds only the files labrnn.sweeps.task accepts back); an older one goes with a render without."""
    path = Path(run_dir) / RECORD
    if any(handin.record().values()):
        atomic_write(path, lambda fh: fh.write(json.dumps(handin.record()).encode("utf-8")))
    else:
        path.unlink(missing_ok=True)


def read_record(run_dir: Path) -> dict:
    """handin.json's title, author and course as text, each "" when absent or not labrnn's."""
    try:
        record = json.loads((Path(run_dir) / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    if not isinstance(record, dict):
        record = {}
    return {k: record[k] if isinstance(record.get(k), str) else "" for k in ("title", "author", "course")}


def _md_escape(text: str) -> str:
    """Text for a Markdown heading, every ASCII punctuation backslash-escaped (CommonMark and pandoc)."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", " ".join(text.split()))


def _cell(display: Display):
    import nbformat
    return nbformat.v4.new_code_cell(source="", outputs=[nbformat.v4.new_output(
        "display_data", data={"text/html": display.html, "text/latex": display.latex, "text/plain": display.plain})])


def _heading_cell(title: str):
    import nbformat
    return nbformat.v4.new_markdown_cell("## " + _md_escape(title))


def _section_cells(section: Section, run) -> list:
    tokens = _shifted(_cite(section.tokens, run))
    return [_heading_cell(section.title),
            _cell(Display(_html(tokens), section.title, latex=_latex(tokens)))]


def listing(model_file) -> Display:
    """Appendix: their model file, highlighted by Pygments with line numbers, and its sha256."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter, LatexFormatter
    from pygments.lexers import PythonLexer
    code = CONTROL.sub(lambda m: visible(m.group()), model_file.source.decode("utf-8", errors="replace"))
    about = f"{model_file.name}, sha256 {model_file.sha256}"
    html = highlight(code, PythonLexer(), HtmlFormatter(linenos="inline", noclasses=True, wrapcode=True))
    size = "\\small" if max(map(len, code.splitlines()), default=0) <= 80 else "\\scriptsize"   # no fvextra: no wraps
    latex = highlight(code, PythonLexer(), LatexFormatter(linenos=True, verboptions=f"fontsize={size}"))
    return Display(Markup('<h2 id="appendix-code">Appendix: the code of {}</h2><p class="byline">{}</p>'
                          '<div class="listing">{}</div>').format(model_file.name, about, Markup(html)),
                   f"Appendix: the code of {model_file.name}\n{about}\n{code}",
                   latex=str(Markup(r"\section{{Appendix: the code of {}}}\noindent {}\par ").format(
                       escape(model_file.name, "latex"), escape(about, "latex"))) + latex)


def _find(nb, test, default: int) -> int:
    return next((i for i, c in enumerate(nb.cells) if test(c)), default)


def insert(nb, handin: Handin, run) -> None:
    """Their title and byline at the top, their sections where their headings say, the listing of their code
    before the appendix on its confinement."""
    import nbformat
    first = _find(nb, lambda c: c.cell_type == "markdown" and c.source.startswith("# "), 0)
    if handin.title or handin.byline:
        heading, _, rest = nb.cells[first].source.partition("\n")
        title = "# " + _md_escape(handin.title) if handin.title else heading
        byline = Markup('<p class="byline author">{}</p>').format(handin.byline)
        nb.cells[first].source = rest.strip()
        nb.cells[first:first] = [nbformat.v4.new_markdown_cell(title),
                                 *([_cell(Display(byline, handin.byline, latex=""))] if handin.byline else [])]
        nb.metadata["labrnn_byline"] = handin.byline
        nb.metadata["labrnn_handin"] = True          # their document: no "labrnn lab report" above their title
        nb.metadata["labrnn_title"] = handin.title or ""
    sections = handin.text.sections if handin.text else []
    for place, anchor, after in (
            ("introduction", lambda c: c.cell_type == "markdown" and c.source.startswith("## Gradient check"), 0),
            ("results", lambda c: "render.appendix(" in c.source, 0),
            ("discussion", lambda c: "render.appendix(" in c.source, 0)):
        at = _find(nb, anchor, len(nb.cells)) + after
        nb.cells[at:at] = [c for s in sections if s.place == place for c in _section_cells(s, run)]
    if handin.model_file is not None:
        at = _find(nb, lambda c: "render.appendix(" in c.source, len(nb.cells))
        nb.cells.insert(at, _cell(listing(handin.model_file)))
