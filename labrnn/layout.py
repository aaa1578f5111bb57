"""Where things are: labrnn's own files (the templates inside the package, wherever its subpackages import them
from) and the reports directory's file names, read by the modules that write them (`sweeps.sweep`) and the index
that links them (`report.export`), so that the index needs nothing from the sweep."""
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
TEMPLATES = PACKAGE / "templates"
COMPARISON, RECORD = "comparison.html", "sweep.json"
