"""Property-based hostile input: random bytes as corpora, random strings as any setting and as file names,
through the command line and `make report`.  Whatever comes in, labrnn ends with exit code 0, 1 (a documented
failure) or 2 (a refusal: one error line, nothing written), never with a traceback.

Bounded: every run is tiny (a few dozen updates of a 4-unit network) but for the one value under test, every
path is under a temporary directory, each example has a time limit, and the whole file takes a few minutes.
"""
import contextlib
import os
import re
import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from labrnn.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--steps", "20", "--m", "4", "--sample-every", "10", "--sample-len", "10", "--best-len", "10", "--quiet"]
TRAIN = build_parser()._subparsers._group_actions[0].choices["train"]
FLAGS = sorted(opt for a in TRAIN._actions for opt in a.option_strings
               if opt.startswith("--") and opt not in ("--help", "--quiet") and a.nargs != 0)
NAME = st.text(alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
               min_size=1, max_size=40).filter(lambda n: n not in (".", "..") and len(os.fsencode(n)) < 200)
VALUE = st.one_of(st.text(max_size=30), st.sampled_from(["-1", "0", "nan", "inf", "1e308", "-0", "1e-320",
                                                         "99999999999999999999", "0x10", "", " ", "--quiet",
                                                         "１２", "١.٠", "1_000"]))
ERROR = re.compile(r"labrnn[ a-z-]*: error: ")    # an error line, not a warning naming a file called `error`
# derandomize: the same examples on every run, so CI is repeatable; they differ per test and per strategy
LIMIT = settings(max_examples=30, deadline=60_000, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


def _run(argv, capsys) -> tuple[int, list[str]]:
    """labrnn in this process; its exit code and stderr lines (an uncaught exception fails the test)."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err.strip().splitlines()


def _check(code, err, out: Path) -> None:
    assert code in (0, 1, 2, 130) and not any("Traceback" in line for line in err), err
    if code == 2:
        errors = [line for line in err if ERROR.match(line)]
        assert len(errors) == 1 and errors == err[-1:], err
        assert not out.exists()


@LIMIT
@given(corpus=st.binary(max_size=3_000), name=NAME)
def test_random_bytes_in_a_file_of_any_name(corpus, name, capsys):
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        data = Path(tmp) / name
        data.write_bytes(corpus)
        out = Path(tmp) / "run"
        code, err = _run(["train", *TINY, "--holdout", "0", "--data", str(data), "--run-dir", str(out)], capsys)
        _check(code, err, out)
        if code == 0:
            assert (out / "run.json").exists() and (out / "run.npz").exists()


@LIMIT
@given(flag=st.sampled_from(FLAGS), value=VALUE)
def test_any_setting_given_any_string(flag, value, genesis, capsys):
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):         # a relative path lands in tmp
        out = Path(tmp) / "run"
        where = ["--run-dir", str(out)] if flag not in ("--run-dir", "--out", "--resume") else []
        code, err = _run(["train", *TINY, "--data", str(genesis), *where, f"{flag}={value}"], capsys)
        _check(code, err, out if where else Path(tmp) / "nothing")


@settings(max_examples=12, deadline=120_000, derandomize=True)
@given(variable=st.sampled_from(["ETA", "SEQ", "M", "SIGMA", "STEPS", "SEED", "CLIP", "GRAD_M", "SAMPLE_LEN",
                                 "FORMAT", "ENGINE", "FORCE", "DATA", "RUN_DIR"]),
       value=VALUE.filter(lambda v: "\n" not in v and "\x00" not in v))
def test_make_report_with_any_value(variable, value):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        fixed = {"STEPS": "20", "M": "4", "SAMPLE_EVERY": "10", "SAMPLE_LEN": "10", "BEST_LEN": "10",
                 "GRAD_M": "2", "RUN_DIR": str(out)}
        fixed[variable] = value if variable != "RUN_DIR" else str(Path(tmp) / (value or "x"))
        done = subprocess.run(["make", "-s", "-C", str(ROOT), "report", *(f"{k}={v}" for k, v in fixed.items())],
                              capture_output=True, text=True, timeout=110, env={**os.environ, "TMPDIR": tmp})
        err = [line for line in done.stderr.strip().splitlines()
               if not line.startswith("make") and "Latin-1" not in line]
        assert done.returncode in (0, 1, 2) and "Traceback" not in done.stderr, done.stderr
        if done.returncode == 2:
            assert len([line for line in err if ERROR.match(line)]) == 1, err
            assert not out.exists() or variable == "RUN_DIR"

