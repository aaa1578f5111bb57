import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labrnn.cli import main

pytestmark = pytest.mark.fast


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code, capsys.readouterr().err.strip().splitlines()


BAD = {
    "missing path": (["--data", "{tmp}/missing.txt"], "not found"),
    "directory": (["--data", "{tmp}"], "directory"),
    "empty file": (["--data", "{tmp}/empty.txt"], "empty"),
    "too short": (["--data", "{tmp}/short.txt"], "seq_length 25 needs at least 26"),
    "binary": (["--data", "{tmp}/binary.dat"], "binary"),
    "eta zero": (["--eta", "0"], "eta must be a positive finite number"),
    "eta negative": (["--eta", "-0.1"], "eta must be a positive finite number"),
    "eta nan": (["--eta", "nan"], "eta must be a positive finite number"),
    "eta inf": (["--eta", "inf"], "eta must be a positive finite number"),
    "eta text": (["--eta", "abc"], "argument --eta: not a number: 'abc'"),
    "seq zero": (["--seq", "0"], "seq_length must be an integer >= 1"),
    "m zero": (["--m", "0"], "m must be an integer >= 1"),
    "m text": (["--m", "ten"], "argument --m: not an integer"),
    "steps negative": (["--steps", "-3"], "steps must be an integer >= 1"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_exits_2_with_one_line(case, tmp_path, capsys):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "short.txt").write_text("too short")
    (tmp_path / "binary.dat").write_bytes(b"\x7fELF\x00\x01\x02" * 50)
    flags, message = BAD[case]
    out = tmp_path / "run"
    code, err = _run(["train", *[f.format(tmp=tmp_path) for f in flags], "--out", str(out), "--quiet"], capsys)
    assert code == 2
    assert err[-1].startswith("labrnn train: error: ") and message in err[-1]
    assert not any("Traceback" in line for line in err)
    assert not out.exists()


def test_gradcheck_command(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert out.count(" pass") == 5 and "PASSED" in out


def test_train_writes_a_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--m", "16", "--steps", "300", "--sample-every", "100", "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    record = json.loads((out / "run.json").read_text())
    assert record["steps_done"] == 300 and not record["interrupted"]
    assert [s["step"] for s in record["samples"]] == [0, 100, 200, 300]


def test_ctrl_c_writes_what_was_reached(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "labrnn.cli", "train", "--steps", "10000000",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:                # wait until training has started
        line = proc.stderr.readline()
        if "corpus:" in line:
            break
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err and "interrupted at" in err
    labrnn = Path(sys.executable).absolute().parent / "labrnn"      # a command that works wherever it is pasted
    assert err.splitlines()[-1] == f"resume with: {labrnn} train --resume {out}"
    record = json.loads((out / "run.json").read_text())
    assert record["interrupted"] is True
    assert 0 < record["steps_done"] < 10_000_000
    assert record["samples"][0]["step"] == 0 and len(record["best"]["text"]) == 1000
