"""Executed notebooks -> report.pdf, through nbconvert's own route: LaTeX typeset by xelatex.

The PDF is made from the same merged notebook as report.html.  Every labrnn
display carries text/latex, which nbconvert's LaTeX exporter prefers, so
neither HTML nor unescaped generated text reaches LaTeX.  The markdown cells
are plain Markdown and Unicode, which pandoc typesets as they are; the
report's title, their level-1 heading, becomes the document's (`for_latex`).
"""
from __future__ import annotations

import logging
import shutil
from functools import partial
from pathlib import Path

import nbformat

from labrnn.iorw import atomic_write
from labrnn.layout import TEMPLATES
from labrnn.report import render
from labrnn.report.export import merge, sections

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


def for_latex(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, str]:
    """The merged notebook for LaTeX, and the subtitle: the first level-1 heading becomes the title (the run's
    description its subtitle; the template has pandoc drop the heading and make level 2 sections), with a
    table of contents before the first section."""
    titles = [line[2:].strip() for cell in nb.cells if cell.cell_type == "markdown"
              for line in cell.source.splitlines() if line.startswith("# ")]
    subtitle = ""
    if titles:
        subtitle, nb.metadata["title"] = nb.metadata["title"], titles[0]
    toc = sections(nb)
    if toc:
        nb.cells.insert(toc[0]["cell"], nbformat.v4.new_raw_cell(r"\tableofcontents",
                                                               metadata={"raw_mimetype": "text/latex"}))
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
    log = logging.getLogger("labrnn.report.pdf")
    log.propagate = False
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    return log


def export_pdf(paths: list[Path], out: Path, title: str, extend=None) -> None:
    """report.pdf from the executed notebooks, written under a temporary name and renamed; `extend(nb)` adds
    to the merged notebook first, as for report.html."""
    missing = missing_tools()
    if missing:
        raise PdfError(f"report.pdf not made: {' and '.join(missing)} not found; install TeX and pandoc "
                       f"({INSTALL})")
    from nbconvert import PDFExporter
    from nbconvert.exporters.pdf import LatexFailed
    nb = merge(paths, title)
    if extend:
        extend(nb)
    nb, subtitle = for_latex(nb)
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
