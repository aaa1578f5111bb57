"""Exit codes that mean the same for every command (docs/command-line.md, "Exit codes"): 0 every report written and every model
passed; 1 written, but something failed; 2 bad input, nothing written; 130 interrupted (tests/test_cli.py and
tests/test_faults.py interrupt train and report)."""
import json
from pathlib import Path

import pytest

from labrnn.cli import main

MODELS = Path(__file__).parent / "models"
SHORT = {"steps": 40, "sample_every": 20, "sample_until": 40}


@pytest.mark.fast
@pytest.mark.parametrize("command", ["train", "gradcheck", "report", "sweep", "compare"])
def test_bad_input_exits_2_in_one_line_and_writes_nothing(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [command, str(tmp_path / "no such run")] if command == "compare" else \
        [command, "--data", str(tmp_path / "no such corpus.txt")]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith(f"labrnn {command}: error: ") and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_report_and_compare_exit_1_when_a_model_fails_its_check(tmp_path, tiny_argv, genesis, capsys):
    """A report on a file whose gradients are wrong is written, and exits 1; on a correct file, 0. The comparison
    of the two is written and exits 1; of the correct one alone, 0."""
    reports = tmp_path / "reports"
    made = {}
    for name, code in [("mistake_no_bptt", 1), ("correct_columns", 0)]:
        argv = ["report", *tiny_argv(**SHORT), "--data", str(genesis), "--model", str(MODELS / f"{name}.py"),
                "--reports", str(reports)]
        assert main(argv) == code, name
        made[name] = Path(capsys.readouterr().out.strip()).parent
        assert (made[name] / "report.html").is_file()
    failing = json.loads((made["mistake_no_bptt"] / "gradcheck.json").read_text())
    assert not failing["passed"] and not failing["diagnosis"]["ok"]
    assert main(["compare", str(made["mistake_no_bptt"]), str(made["correct_columns"]),
                 "--reports", str(reports)]) == 1
    assert Path(capsys.readouterr().out.strip()).is_file()
    assert main(["compare", str(made["correct_columns"]), "--reports", str(reports)]) == 0
