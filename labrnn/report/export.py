"""Executed notebooks -> one self-contained report.html; every report -> reports/index.html.

The HTML template (`templates/labrnn`) extends nbconvert's lab template and
drops everything it would fetch from a CDN (require.js, MathJax, mermaid,
widgets), so a shared report opens offline.  Code, prompts and cells tagged
`remove-cell` (the nbval checks) stay in the executed notebooks only.
"""
from __future__ import annotations

import json
import sys
import threading
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree

import nbformat

from labrnn.iorw import atomic_write
from labrnn.layout import TEMPLATES
from labrnn.report.render import HTML, href
from labrnn.rnn.corpus import shown

HIDDEN_TAG = "remove-cell"


def merge(paths: list[Path], title: str) -> nbformat.NotebookNode:
    """One notebook of the reader-facing cells of all of them: markdown, and the outputs of code cells
    (stderr, such as warnings, stays in the executed notebooks)."""
    notebooks = [nbformat.read(path, as_version=4) for path in paths]
    merged = nbformat.v4.new_notebook(metadata=notebooks[0].metadata)
    for nb in notebooks:
        for cell in nb.cells:
            if HIDDEN_TAG in cell.metadata.get("tags", []):
                continue
            if cell.cell_type == "code":
                cell.outputs = [o for o in cell.outputs if o.output_type != "stream" or o.name == "stdout"]
                if not cell.outputs:
                    continue
            merged.cells.append(cell)
    merged.metadata["title"] = title
    return merged


def sections(nb: nbformat.NotebookNode) -> list[dict]:
    """The table of contents: each `## ` heading of the markdown cells, with the index of its cell and the id
    nbconvert gives it (made by nbconvert's own markdown renderer, so the links reach the headings)."""
    from nbconvert.filters import markdown2html_mistune
    found = []
    for i, cell in enumerate(nb.cells):
        for line in cell.source.splitlines() if cell.cell_type == "markdown" else []:
            if not line.startswith("## "):
                continue
            try:
                heading = ElementTree.fromstring(markdown2html_mistune(line))
            except ElementTree.ParseError:          # raw HTML in the heading: nbconvert gives it no id either
                continue
            heading.remove(heading.find("a"))       # the anchor link beside the heading
            found.append({"id": heading.get("id"), "title": "".join(heading.itertext()).strip(), "cell": i})
    return found


def export_html(paths: list[Path], out: Path, title: str, extend=None) -> None:
    """report.html, with a table of contents before the first section (templates/labrnn/index.html.j2);
    `extend(nb)` adds to the merged notebook first (labrnn.report.handin.insert: the student's parts)."""
    nb = merge(paths, title)
    if extend:
        extend(nb)
        nb.metadata["title"] = nb.metadata.get("labrnn_title") or title     # the browser's tab: their title
    body, _ = _exporter().from_notebook_node(nb, resources={"labrnn_sections": sections(nb)})
    atomic_write(out, lambda fh: fh.write(body.encode("utf-8")))


_THREAD = threading.local()


def _exporter():
    """This thread's HTML exporter, made once: its templates are compiled on its first report (~0.2 s), not on
    every one. One per thread, as a sweep's worker makes reports in several threads."""
    if not hasattr(_THREAD, "exporter"):
        from nbconvert import HTMLExporter
        _THREAD.exporter = HTMLExporter(template_name="labrnn", extra_template_basedirs=[str(TEMPLATES)],
                                        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                                        anchor_link_text="#")
    return _THREAD.exporter


def _entry(run_dir: Path) -> dict | None:
    """What the index shows of one report, or None when the directory holds no finished report."""
    from labrnn.report.degenerate import marks
    from labrnn.report.handin import read_record
    from labrnn.report.rundir import RunDir
    rd = RunDir(run_dir)
    if not (rd / RunDir.REPORT).exists() and not (rd / RunDir.KEY).exists():
        return None                                     # no report, or one still being made
    key = rd.read_key()
    if key is None:
        raise ValueError("its key.json is missing or not labrnn's")
    run = rd.load_run()
    s = run.settings
    return {"name": shown(rd.name), "href": href(rd.name, RunDir.REPORT), "corpus": run.corpus["name"],
            "pdf": href(rd.name, RunDir.PDF) if (rd / RunDir.PDF).exists() else None,
            "eta": f"{s.eta:g}", "seq": s.seq_length, "m": s.m, "sigma": f"{s.sigma:g}",
            "length": f"{s.epochs} epochs" if s.epochs else f"{run.steps_done:,} steps",
            "seed": s.seed, "min_loss": f"{run.best.smooth_loss:.2f}", "min_step": f"{run.best.step:,}",
            "date": key.trained_at, "date_shown": _date(key.trained_at), "handin": read_record(rd.path),
            "degenerate": marks(run)}


def _sweep_entry(sweep_dir: Path) -> dict | None:
    """What the index shows of one sweep or `labrnn compare` page, or None when the directory holds no finished
    comparison."""
    from labrnn.layout import COMPARISON, RECORD
    if not (sweep_dir / RECORD).exists():
        return None
    record = json.loads((sweep_dir / RECORD).read_text(encoding="utf-8"))
    if not (sweep_dir / COMPARISON).exists() or not record["runs"]:
        return None
    best = record["runs"][0]
    return {"name": shown(sweep_dir.name), "href": href(sweep_dir.name, COMPARISON),
            "command": str(record.get("command", "sweep")),       # older sweep.json files have none
            "corpus": str(record["corpus"]["name"]), "runs": len(record["runs"]), "failed": len(record["failed"]),
            "best": str(best.get("label") or " ".join(f"{n}={best['params'][n]:g}" for n in record["swept"])),
            "best_loss": "—" if best["min_loss_per_char"] is None else f"{best['min_loss_per_char']:.3f}",
            "date": record["made_at"], "date_shown": _date(record["made_at"])}


def _date(iso) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")


def _readable(entry, directory: Path) -> dict | None:
    """entry(directory), or None with one warning line when it holds files of another shape (another tool's
    run.json, an older format, a date that is not a date): one odd directory never stops the index."""
    try:
        return entry(directory)
    except Exception as err:                    # whatever a foreign file makes the reading raise
        print(f"labrnn: warning: the index skips {shown(str(directory))}: {type(err).__name__}: "
              f"{shown(str(err).splitlines()[0] if str(err) else '')}", file=sys.stderr)
        return None


def build_index(reports: Path) -> Path:
    """reports/index.html: every report, and every sweep and comparison, newest first."""
    dirs = [d for d in sorted(Path(reports).iterdir()) if d.is_dir()]
    entries = sorted((e for d in dirs if (e := _readable(_entry, d))), key=lambda e: e["date"], reverse=True)
    sweeps = sorted((e for d in dirs if (e := _readable(_sweep_entry, d))), key=lambda e: e["date"], reverse=True)
    html = HTML.get_template("reports-index.html.j2").render(entries=entries, sweeps=sweeps)
    out = Path(reports) / "index.html"
    atomic_write(out, lambda fh: fh.write(html.encode("utf-8")))
    return out
