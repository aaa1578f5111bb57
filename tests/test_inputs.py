"""Bad and odd inputs, tried through the command line: each ends in one error line
(exit 2, nothing written) or in a correct run, never in a traceback."""
import json
import subprocess
import sys

import pytest

TINY = ["--steps", "30", "--m", "8", "--sample-every", "10", "--sample-len", "20", "--best-len", "30"]

# (flags, expected last line or None for a correct run); {d} is a directory of prepared files
CASES = {
    "eta negative": (["--eta", "-1"], "eta must be a positive finite number"),
    "eta zero": (["--eta", "0"], "eta must be a positive finite number"),
    "eta nan": (["--eta", "nan"], "eta must be a positive finite number"),
    "eta inf": (["--eta", "inf"], "eta must be a positive finite number"),
    "eta -inf": (["--eta=-inf"], "eta must be a positive finite number"),
    "eta text": (["--eta", "fast"], "argument --eta: not a number: 'fast'"),
    "eta empty": (["--eta", ""], "argument --eta: not a number: ''"),
    "seq zero": (["--seq", "0"], "seq_length must be an integer >= 1"),
    "seq negative": (["--seq", "-25"], "seq_length must be an integer >= 1"),
    "seq float": (["--seq", "2.5"], "argument --seq-length/--seq: not an integer: '2.5'"),
    "seq huge": (["--seq", "1000000000"], "seq_length 1000000000 needs at least"),
    "m zero": (["--m", "0"], "m must be an integer >= 1"),
    "m huge": (["--m", "10000000"], "GiB of memory"),
    "sigma nan": (["--sigma", "nan"], "sigma must be a positive finite number"),
    "sigma zero": (["--sigma", "0"], "sigma must be a positive finite number"),
    "steps zero": (["--steps", "0"], "steps must be an integer >= 1"),
    "steps negative": (["--steps", "-1"], "steps must be an integer >= 1"),
    "steps huge": (["--steps", "1000000000000"], "GiB of memory"),
    "steps and epochs: epochs win": (["--steps", "5", "--epochs", "2", "--data", "{d}/crlf.txt"], None),
    "epochs zero": (["--epochs", "0"], "epochs must be an integer >= 1"),
    "sample every zero": (["--sample-every", "0"], "sample_every must be an integer >= 1"),
    "sample len huge": (["--sample-len", "1000000000"], "GiB of memory"),
    "temperature zero": (["--temperature", "0"], "temperature must be a positive finite number"),
    "holdout too big": (["--holdout", "0.9"], "holdout must be a share from 0 up to 0.5"),
    "seed negative": (["--seed", "-1"], "seed must be an integer >= 0"),
    "missing corpus": (["--data", "{d}/missing.txt"], "corpus file not found"),
    "directory corpus": (["--data", "{d}"], "not a text file"),
    "empty corpus": (["--data", "{d}/empty.txt"], "corpus file is empty"),
    "binary corpus": (["--data", "{d}/binary.bin"], "looks binary"),
    "control characters": (["--data", "{d}/controls.txt"], "looks binary"),
    "one character": (["--data", "{d}/one.txt"], "needs at least 26"),
    "seq_length long": (["--data", "{d}/seq.txt"], "needs at least 26"),
    "seq_length long, no holdout": (["--data", "{d}/seq.txt", "--holdout", "0"], "needs at least 26"),
    "seq_length + 1, no holdout": (["--data", "{d}/seq1.txt", "--holdout", "0"], None),
    "only newlines": (["--data", "{d}/newlines.txt"], None),
    "path with spaces and unicode": (["--data", "{d}/my corpus ü ☃.txt"], None),
    "latin-1 corpus": (["--data", "{d}/latin1.txt"], None),
    "crlf corpus": (["--data", "{d}/crlf.txt", "--keep-cr"], None),
    "eta huge diverges cleanly": (["--eta", "1e300"], None),
    "temperature tiny": (["--temperature", "1e-300"], None),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    (d / "empty.txt").write_bytes(b"")
    (d / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (d / "controls.txt").write_bytes(b"\x01\x02\x03\x04 abc" * 50)
    (d / "one.txt").write_text("x")
    (d / "seq.txt").write_text("abcdefghijklmnopqrstuvwxy")
    (d / "seq1.txt").write_text("abcdefghijklmnopqrstuvwxyz")
    (d / "newlines.txt").write_text("\n" * 400)
    (d / "my corpus ü ☃.txt").write_text("Ünïcödé ☃ snow and spaces in the path. " * 30)
    (d / "latin1.txt").write_bytes("Über die Brücke, Müller! ".encode("latin-1") * 40)
    (d / "crlf.txt").write_bytes(b"line one\r\nline two\r\n" * 40)
    return d


@pytest.mark.parametrize("case", CASES)
def test_cli_input(case, files, tmp_path):
    flags, expected = CASES[case]
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "labrnn.cli", "train", *TINY,
            *[f.format(d=files) for f in flags], "--out", str(out), "--quiet"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in result.stderr
    if expected is None:
        assert result.returncode == 0, result.stderr
        record = json.loads((out / "run.json").read_text())
        assert record["steps_done"] >= 1 and record["samples"][0]["step"] == 0
        if "--epochs" in flags:
            assert record["params"]["steps"] is None and record["epochs_done"] == 2
    else:
        last = result.stderr.strip().splitlines()[-1]
        assert result.returncode == 2 and last.startswith("labrnn train: error: ")
        assert expected in last
        assert not out.exists()


ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent

# make report VAR=value ...: (variables, expected text of the one error line)
MAKE_CASES = {
    "ETA text": ({"ETA": "abc"}, "argument --eta: not a number: 'abc'"),
    "ETA nan": ({"ETA": "nan"}, "eta must be a positive finite number"),
    "SEQ zero": ({"SEQ": "0"}, "seq_length must be an integer >= 1"),
    "M negative": ({"M": "-3"}, "m must be an integer >= 1"),
    "STEPS inf": ({"STEPS": "inf"}, "argument --steps: not an integer"),
    "GRAD_M zero": ({"GRAD_M": "0"}, "grad_m must be an integer >= 1"),
    "DATA missing": ({"DATA": "missing.txt"}, "corpus file not found"),
    "DATA empty, path with spaces": ({"DATA": "{d}/my empty ü.txt"}, "corpus file is empty"),
    "FORMAT unknown": ({"FORMAT": "docx"}, "docx"),
    "GRAD_M far too big": ({"GRAD_M": "400"}, "give grad_m of at most"),
    "DATA a device": ({"DATA": "/dev/zero"}, "is not a regular file"),
}


@pytest.mark.parametrize("case", MAKE_CASES)
def test_make_report_input(case, tmp_path):
    (tmp_path / "my empty ü.txt").write_text("")
    variables, expected = MAKE_CASES[case]
    argv = ["make", "-s", "-C", str(ROOT), "report", f"RUN_DIR={tmp_path / 'run'}",
            *[f"{k}={v.format(d=tmp_path)}" for k, v in variables.items()]]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in result.stderr.strip().splitlines() if not ln.startswith("make")]
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(lines) == 1 and lines[0].startswith("labrnn report: error: ") and expected in lines[0]
    assert not (tmp_path / "run").exists()

