"""A class's grades as files for a spreadsheet or an LMS: grades.csv and grades.json, one row per submission.

A teacher opens grades.csv in a spreadsheet, and its cells hold what students chose (their file names) and what
their code printed (an error message): a text cell that begins with = + - @, a tab or a carriage return would be
read as a formula (OWASP's "CSV injection"), so it is written with a leading apostrophe (as is one beginning with a
line feed, a NUL or an apostrophe), which spreadsheets take as "text" and do not show.  Numbers are written as numbers
(a negative one stays a number).  The column names in COLUMNS are stable: scripts and LMS imports may rely on them;
grades.json holds the same rows with the same keys.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from labrnn.iorw import atomic_write
from labrnn.report.public import public
from labrnn.rnn.corpus import shown
from labrnn.rnn.model import NAMES

GRADES_CSV, GRADES_JSON = "grades.csv", "grades.json"
PASSED, FAILED, NOT_RUN = "passed", "failed", "did not run"
VERDICT = {True: "pass", False: "fail", None: ""}
COLUMNS = ("student", "file", "sha256", "status", "reason", *(f"grad_{k}" for k in NAMES), "diagnosis",
           "diagnosis_text", "min_loss_per_char", "heldout_bits_per_char", "identical_code", "report")
FORMULA = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")     # OWASP's leading characters, and LF and NUL besides


@dataclass(frozen=True)
class Grade:
    """One submission's row: what labrnn computed of it, or why it did not run."""
    file: str                       # the file's path; the gradebook shows its name, as the teacher named it
    sha256: str
    status: str                     # PASSED, FAILED or NOT_RUN
    reason: str = ""                # why it failed or did not run, in the checks' own words
    verdicts: dict[str, bool | None] = field(default_factory=lambda: dict.fromkeys(NAMES))
    diagnosis: tuple[str, ...] = ()     # the mistakes found (`diagnose.MISTAKES`), in the findings' order
    diagnosis_text: str = ""            # the diagnosis in a few words, as the comparison shows it
    min_loss_per_char: float | None = None      # labrnn's smooth loss at its minimum, per character (nats)
    heldout_bits_per_char: float | None = None  # the last held-out score (bits per character)
    report: str = ""                # the report's path, relative to the gradebook's directory when it can be
    identical_code: int | None = None   # the group number of `labrnn.student.similar.groups` it belongs to

    @property
    def student(self) -> str:
        """The student, as the file's name says: its stem (alice_smith.py -> alice_smith)."""
        return shown(Path(self.file).stem)

    def row(self) -> dict:
        """The row under COLUMNS, values as Python has them (None where there is nothing)."""
        return {"student": self.student, "file": shown(Path(self.file).name), "sha256": self.sha256,
                "status": self.status, "reason": self.reason,
                **{f"grad_{k}": VERDICT[self.verdicts.get(k)] for k in NAMES},
                "diagnosis": list(self.diagnosis), "diagnosis_text": self.diagnosis_text,
                "min_loss_per_char": _finite(self.min_loss_per_char),
                "heldout_bits_per_char": _finite(self.heldout_bits_per_char),
                "identical_code": self.identical_code, "report": self.report}


def graded(path: str, sha256: str, run, check=None, diagnosis=None, report: Path | None = None,
           out: Path | None = None) -> Grade:
    """The grade of a submission that trained: `run` a `labrnn.rnn.train.Run`, `check` its GradCheck and `diagnosis`
    its Diagnosis (None: not checked); failed when a gradient fails, the diagnosis differs from the reference or
    training broke; `report` linked relative to `out`, the gradebook's directory."""
    verdicts = dict.fromkeys(NAMES) | ({r.name: r.passed for r in check.rows} if check is not None else {})
    reasons = problems(run, check, diagnosis)
    scored = [s.heldout_bits_per_char for s in run.samples if s.heldout_bits_per_char is not None]
    codes = tuple(dict.fromkeys(f.mistake for f in diagnosis.findings)) if diagnosis is not None else ()
    return Grade(path, sha256, FAILED if reasons else PASSED, public("; ".join(reasons)), verdicts, codes,
                 diagnosis.summary() if diagnosis is not None else "",
                 run.best.smooth_loss / run.settings.seq_length, scored[-1] if scored else None,
                 _relative(report, out))


def problems(run, check=None, diagnosis=None) -> list[str]:
    """What failed in a run that was made, one phrase each (none: it passed): a gradient that fails its check,
    a diagnosis that differs from the reference, training that broke.  The gradebook's status and the commands'
    exit code 1 both mean these."""
    reasons = []
    if check is not None and (failing := [r.name for r in check.rows if not r.passed]):
        reasons.append("gradient check fails for " + " ".join(failing))
    if diagnosis is not None and not diagnosis.ok:
        reasons.append("differs from the reference: " + diagnosis.summary())
    if run.broken is not None:
        reasons.append(f"broke at training step {run.broken.step:,}: {run.broken.message}")
    return reasons


def not_run(path: str, sha256: str, reason: str) -> Grade:
    """The grade of a submission that produced no report: it did not import, failed its contract, or its run
    could not be made; `reason` says which, as the sweep logged it (shown with nothing of this machine: the
    gradebook goes to an LMS)."""
    return Grade(path, sha256, NOT_RUN, public(reason))


def with_groups(grades: list[Grade], groups: list[list[str]]) -> list[Grade]:
    """The grades with their identical-code group numbers (1, 2, ... in the order of `groups`, whose members
    are the files' paths as `labrnn.student.similar.groups` was given them)."""
    number = {path: i for i, group in enumerate(groups, 1) for path in group}
    return [Grade(**{**vars(g), "identical_code": number.get(g.file)}) for g in grades]


def of_sweep(done, failed, sources: dict[str, bytes], same: list[list[str]], out: Path) -> list[Grade]:
    """A class's sweep as grades, identical code grouped: `done` its finished entries (each with settings.model,
    run, check, diagnosis and report, as `labrnn.sweeps.comparison.Done`), `failed` its (settings, reason) pairs,
    `sources` every model file's bytes by its path as the settings name it, `same` the groups of identical code
    (`labrnn.student.similar.groups`), `out` the gradebook's directory.  Entries without a model file (labrnn's own)
    have no row."""
    grades = [graded(d.settings.model, d.run.model["sha256"], d.run, d.check, d.diagnosis, d.report, out)
              for d in done if d.settings.model is not None]
    grades += [not_run(p.model, hashlib.sha256(sources[p.model]).hexdigest(), why)
               for p, why in failed if p.model is not None]
    return with_groups(grades, same)


def write(out: Path, grades: list[Grade]) -> tuple[Path, Path]:
    """grades.csv and grades.json in `out` (which exists), rows sorted by file name, each file written under a
    temporary name and renamed; their paths."""
    rows = [g.row() for g in sorted(grades, key=lambda g: (Path(g.file).name, g.file))]
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")         # RFC 4180's line ends, as spreadsheets expect
    writer.writerow(COLUMNS)
    writer.writerows([cell(row[c]) for c in COLUMNS] for row in rows)
    doc = json.dumps({"columns": COLUMNS, "grades": rows}, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    out = Path(out)
    # "replace": a lone surrogate in a message their code raised is no reason to lose the gradebook
    atomic_write(out / GRADES_CSV, lambda fh: fh.write(("\ufeff" + text.getvalue()).encode("utf-8", "replace")))
    atomic_write(out / GRADES_JSON, lambda fh: fh.write(doc.encode("utf-8", "replace")))
    return out / GRADES_CSV, out / GRADES_JSON


def cell(value) -> str | int | float:
    """A value as a CSV cell a spreadsheet cannot take for a formula: text starting with one of FORMULA gets a
    leading apostrophe, and so does text starting with one (a script reading the file drops one leading apostrophe
    and has the text); numbers stay numbers; a list is its items, space-separated; None is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return value
    text = " ".join(value) if isinstance(value, list) else str(value)
    return "'" + text if text.startswith(FORMULA + ("'",)) else text


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _relative(report: Path | None, out: Path | None) -> str:
    """The report's path as the gradebook names it: from `out` when given (the gradebook travels with the reports)."""
    if report is None:
        return ""
    return shown(Path(os.path.relpath(report, out)).as_posix() if out is not None else str(report))
