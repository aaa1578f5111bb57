"""The Makefile and tools/venv.sh: which Python, which venv, and values that reach labrnn as data.

The venvs here are stand-ins (a pyvenv.cfg, a stamp, `bin/python` and `bin/labrnn` running this
interpreter), so the tests run make for real in a second, without installing anything.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.fast


def make(*args):
    """make as a user runs it: not as a sub-make of `make test` (whose MAKELEVEL and MAKEFLAGS it would inherit)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES")}
    return subprocess.run(["make", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def venv(tmp_path):
    """A ready venv for make: this interpreter behind `bin/python` and `bin/labrnn`."""
    v = tmp_path / "venv"
    (v / "bin").mkdir(parents=True)
    (v / "pyvenv.cfg").write_text("home = /nowhere\n")
    script(v / "bin" / "python", f'exec {sys.executable} "$@"')
    script(v / "bin" / "labrnn", f'exec {sys.executable} -m labrnn.cli "$@"')
    (v / ".installed").write_text("stamp\n")
    return v


def script(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def fake_python(path: Path, version: str, venv_works: bool = False) -> Path:
    """An interpreter that says it is `version`; its `-m venv DIR` half-makes DIR and fails, as Debian's
    python without python3-venv does (unless venv_works, when it fails only later, at pip)."""
    return script(path, f'case "$1" in -c) echo {version} ;; '
                        f'-m) mkdir -p "$3/bin"; touch "$3/pyvenv.cfg"; {"exit 0" if venv_works else "exit 1"} ;; '
                        'esac')


HOSTILE = ["0.1'; touch PWNED; echo '", "$(touch PWNED)", "`touch PWNED`", "$HOME", "a;touch PWNED",
           "--help", "-x", 'say "hi"', "$$", "\\'", "two  spaces"]


@pytest.mark.parametrize("value", HOSTILE)
def test_make_report_values_reach_labrnn_byte_for_byte(venv, tmp_path, value):
    """Nothing in a value runs; labrnn sees exactly it (its one-line error quotes it back)."""
    r = make("report", f"VENV={venv}", f"ETA={value}")
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines() if not line.startswith("make:")]
    assert lines == [f"labrnn report: error: argument --eta: not a number: {value!r}"]
    assert not (ROOT / "PWNED").exists()


def test_a_newline_in_a_value_is_refused_before_anything_runs(venv):
    r = make("report", f"VENV={venv}", "ETA=0.1\ntouch PWNED")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "ETA holds a newline" in r.stderr
    assert not (ROOT / "PWNED").exists()


def test_a_file_name_with_quote_and_dollar_is_the_file_named(venv, tmp_path):
    name = str(tmp_path / "the author's $HOME `notes`.txt")
    r = make("report", f"VENV={venv}", f"DATA={name}")
    assert r.returncode == 2
    assert f"corpus file not found: {name}" in r.stderr


def test_make_sweep_values_are_data_too(venv, tmp_path):
    r = make("sweep", f"VENV={venv}", "JOBS=1; touch PWNED", "ETA=0.1 $(touch PWNED)")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "not a" in r.stderr and not (ROOT / "PWNED").exists()


@pytest.mark.parametrize("value, flag_given", [("1", True), ("yes", True), ("On", True),
                                               ("0", False), ("No", False), ("false", False)])
def test_force_takes_yes_and_no(value, flag_given):
    from labrnn.cli import build_parser, from_make
    sub = build_parser()._subparsers._group_actions[0].choices["report"]
    assert ("--force" in from_make("report", sub, [f"FORCE={value}"])) is flag_given


def test_format_html_pdf_is_one_argument(venv):
    r = make("report", f"VENV={venv}", "FORMAT=html pdf docx")
    assert r.returncode == 2 and "labrnn report: error: unknown format docx" in r.stderr


def test_unknown_variable_and_bad_switch_are_one_line(venv):
    for args, message in [(["FOO=1"], "make report has no variable 'FOO'"),
                          (["FORCE=maybe"], "FORCE takes 1/yes/true/on or 0/no/false/off, got 'maybe'")]:
        r = make("report", f"VENV={venv}", *args)
        lines = [line for line in r.stderr.splitlines() if not line.startswith("make:")]
        assert r.returncode == 2 and len(lines) == 1 and message in lines[0]


# -- which Python -----------------------------------------------------------------------
def venv_sh(tmp_path, *args, path=None):
    env = {**os.environ, "PATH": path} if path else None
    return subprocess.run(["sh", str(ROOT / "tools" / "venv.sh"), *args], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=60)


@pytest.mark.parametrize("version", ["3.10", "3.14", "2.7"])
def test_an_unsupported_python_is_refused_in_one_line(tmp_path, version):
    python = fake_python(tmp_path / f"python{version}", version)
    r = venv_sh(tmp_path, str(tmp_path / "v"), str(python))
    assert r.returncode == 2
    assert r.stderr.splitlines() == [f"labrnn: PYTHON={python} is Python {version}; labrnn supports 3.11 to 3.13: "
                                     "make report PYTHON=python3.12"]
    assert not (tmp_path / "v").exists()


def test_a_python_without_venv_leaves_nothing(tmp_path):
    python = fake_python(tmp_path / "python3.12", "3.12")
    r = venv_sh(tmp_path, str(tmp_path / "v"), str(python))
    assert r.returncode == 2
    assert "cannot make a virtual environment" in r.stderr and "python3.12-venv" in r.stderr
    assert not (tmp_path / "v").exists()


def test_interpreters_are_found_by_running_them(tmp_path):
    """An inactive pyenv shim answers `command -v` but does not run: the next one that runs is taken."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    script(bin_ / "python3.13", "echo 'pyenv: python3.13: command not found' >&2; exit 127")
    fake_python(bin_ / "python3.12", "3.12")
    fake_python(bin_ / "python3.11", "3.11")
    r = venv_sh(tmp_path, str(tmp_path / "v"), path=f"{bin_}:/usr/bin:/bin")
    assert f"making {tmp_path / 'v'} with python3.12 (Python 3.12)" in r.stderr
    assert r.returncode != 0 and not (tmp_path / "v").exists()      # the fake cannot finish it


def test_a_venv_of_another_python_is_made_again(venv, tmp_path):
    this = "%d.%d" % sys.version_info[:2]
    other = next(v for v in ("3.11", "3.12", "3.13") if v != this)
    python = fake_python(tmp_path / f"python{other}", other, venv_works=True)
    r = venv_sh(tmp_path, str(venv), str(python))
    assert f"{venv} is Python {this}, not {other}: making it again" in r.stderr
    assert r.returncode != 0 and not venv.exists()                  # the fake's pip fails: nothing half-made


def test_a_ready_venv_is_reused_without_a_word(venv, tmp_path):
    r = venv_sh(tmp_path, str(venv))
    assert r.returncode == 0 and r.stderr == "" and (venv / "bin" / "labrnn").exists()


def test_a_directory_that_is_no_venv_is_never_removed(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    r = venv_sh(tmp_path, str(mine), sys.executable)
    assert r.returncode == 2 and "is not a virtual environment" in r.stderr
    assert (mine / "thesis.tex").read_text() == "years of work"


def test_a_python_that_does_not_run_is_named_with_the_ones_that_do(tmp_path):
    shim = script(tmp_path / "python3.13", "echo 'pyenv: python3.13: command not found' >&2; exit 127")
    r = venv_sh(tmp_path, str(tmp_path / "v"), str(shim))
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1
    assert f"PYTHON={shim} does not run" in r.stderr and "supported ones here: " in r.stderr
    assert not (tmp_path / "v").exists()


def test_make_compare_splits_dirs_as_a_shell_does_and_runs_none_of_it(venv, tmp_path):
    """DIRS is one Make variable: a path with spaces is quoted inside it, and nothing in it is expanded."""
    ann = tmp_path / "from Ann's laptop" / "run 1"
    ann.mkdir(parents=True)                     # a directory, but no run in it
    r = make("compare", f"VENV={venv}", f"DIRS=\"{ann}\" '$(touch PWNED)'", f"REPORTS={tmp_path / 'r'}")
    lines = [line for line in r.stderr.splitlines() if not line.startswith("make:")]
    assert r.returncode == 2 and lines == [f"labrnn compare: error: no complete run in {ann} "
                                           "(key.json is missing or damaged)"]
    assert not (ROOT / "PWNED").exists() and not (tmp_path / "r").exists()
    r = make("compare", f"VENV={venv}", "DIRS='unbalanced")
    assert r.returncode == 2 and "labrnn compare: error: argument --dirs: No closing quotation" in r.stderr


# -- make lab ---------------------------------------------------------------------------------------------------
LAB_ARGS = "--port 8899 --no-browser ;touch PWNED $(touch PWNED) `touch PWNED` it's $$HOME"
LAB_WORDS = ["--port", "8899", "--no-browser", ";touch", "PWNED", "$(touch", "PWNED)", "`touch", "PWNED`", "it's",
             "$$HOME"]


def test_make_lab_roots_jupyter_at_the_project_and_passes_lab_args_as_arguments(venv):
    """Each word of LAB_ARGS is one argument of jupyter lab, byte for byte; nothing in it runs."""
    script(venv / "bin" / "jupyter", f"printf '%s\\n' \"$@\" > {venv / 'argv'}")
    r = make("lab", f"VENV={venv}", f"LAB_ARGS={LAB_ARGS}")
    assert r.returncode == 0, r.stderr
    root = [f"--ServerApp.root_dir={ROOT}", "--MappingKernelManager.default_kernel_name=labrnn"]
    argv = (venv / "argv").read_text().splitlines()
    assert argv == ["lab", *root, *(["--allow-root"] if os.getuid() == 0 else []), *LAB_WORDS]
    assert not (ROOT / "PWNED").exists()


def test_make_n_lab_shows_lab_args_quoted_one_word_each(venv):
    r = make("-n", "lab", f"VENV={venv}", f"LAB_ARGS={LAB_ARGS}")
    assert r.returncode == 0 and r.stdout.splitlines()[-1].endswith(
        " '--port' '8899' '--no-browser' ';touch' 'PWNED' '$(touch' 'PWNED)' '`touch' 'PWNED`' 'it'\\''s' '$$HOME'")
    assert f"--ServerApp.root_dir='{ROOT}'" in r.stdout and not (ROOT / "PWNED").exists()
    r = make("lab", f"VENV={venv}", "LAB_ARGS=--no-browser\ntouch PWNED")
    assert r.returncode == 2 and "LAB_ARGS holds a newline" in r.stderr and not (ROOT / "PWNED").exists()
