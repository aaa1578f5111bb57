"""Executed notebooks -> report.pdf, through nbconvert's own route: LaTeX typeset by xelatex.

The PDF is made from the same merged notebook as report.html.  Every labrnn
display carries text/latex, which nbconvert's LaTeX exporter prefers, so
neither HTML nor unescaped generated text reaches LaTeX.  The markdown cells
are written for the page (HTML sub- and superscripts, the report's title as a
level-1 heading); `for_latex` rewrites what pandoc would otherwise drop.
"""
from __future__ import annotations

import logging
import re
import shutil
from functools import partial
from pathlib import Path

import nbformat

from . import render
from .export import TEMPLATES, merge
from .iorw import atomic_write

TOOLS = ("xelatex", "pandoc")
INSTALL = ("Debian/Ubuntu: sudo apt-get install texlive-xetex texlive-fonts-recommended texlive-plain-generic "
           "pandoc; macOS: brew install --cask mactex-no-gui && brew install pandoc")
LATEX_RUNS = 2          # the second run fills in the table of contents and the PDF's bookmarks
XELATEX = ["xelatex", "-interaction=nonstopmode", "-halt-on-error", "{filename}"]   # an error ends the run


class PdfError(Exception):
    """report.pdf could not be made; the message is one line for the user."""


def missing_tools() -> list[str]:
    """The programs nbconvert's PDF route needs that are not on PATH."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def _markdown(source: str) -> str:
    """HTML the markdown cells use for the page, in pandoc's markdown (its LaTeX writer drops raw HTML)."""
    def span(mark):
        return lambda m: mark + m.group(1).replace(" ", "\\ ") + mark
    source = re.sub(r"<sub>(.*?)</sub>", span("~"), source)
    source = re.sub(r"<sup>(.*?)</sup>", span("^"), source)
    source = re.sub(r"<code>(.*?)</code>", r"`\1`", source)
    return re.sub(r'<p class="formula">(.*?)</p>', r"> \1", source, flags=re.S)    # a display: indented


def for_latex(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, str]:
    """The merged notebook for LaTeX, and the subtitle: the level-1 heading becomes the title (the run's
    description its subtitle), level-2 headings become sections, with a table of contents before the first."""
    subtitle, toc_at = "", None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        source = _markdown(cell.source)
        title = re.search(r"^# (.+)\n*", source, re.M)
        if title and not subtitle:
            subtitle, nb.metadata["title"] = nb.metadata["title"], title.group(1).strip()
            source = source[:title.start()] + source[title.end():]
        source = re.sub(r"^#(#+) ", r"\1 ", source, flags=re.M)
        if toc_at is None and re.search(r"^# ", source, re.M):
            toc_at = i
        cell.source = source
    if toc_at is not None:
        nb.cells.insert(toc_at, nbformat.v4.new_raw_cell(r"\tableofcontents", metadata={"raw_mimetype": "text/latex"}))
    return nb, subtitle


def _first_error(output: str) -> str:
    """The first LaTeX error and the line it points at, from xelatex's output."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("! "):
            where = next((x for x in lines[i + 1:i + 12] if x.startswith("l.")), "")
            return f"{line[2:]} {where}".strip()
    return lines[-1] if lines else "no output"


def _quiet_log() -> logging.Logger:
    """nbconvert logs xelatex's whole output on failure; the error message says what matters."""
    log = logging.getLogger("labrnn.pdf")
    log.propagate = False
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    return log


def export_pdf(paths: list[Path], out: Path, title: str) -> None:
    """report.pdf from the executed notebooks, written under a temporary name and renamed."""
    missing = missing_tools()
    if missing:
        raise PdfError(f"report.pdf not made: {' and '.join(missing)} not found; install TeX and pandoc "
                       f"({INSTALL})")
    from nbconvert import PDFExporter
    from nbconvert.exporters.pdf import LatexFailed
    nb, subtitle = for_latex(merge(paths, title))
    exporter = PDFExporter(template_name="labrnn-latex", extra_template_basedirs=[str(TEMPLATES)],
                           exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                           raw_mimetypes=["text/latex"], latex_command=XELATEX, latex_count=LATEX_RUNS,
                           log=_quiet_log(),
                           filters={"labrnn_latex": partial(render.escape, fmt="latex")})
    try:
        pdf, _ = exporter.from_notebook_node(nb, resources={"labrnn_subtitle": subtitle,
                                                            "labrnn_macros": render.LATEX_MACROS})
    except LatexFailed as err:
        raise PdfError(f"report.pdf not made: xelatex failed: {_first_error(err.output)}") from None
    atomic_write(out, lambda fh: fh.write(pdf))
