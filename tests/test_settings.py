"""labrnn.settings is the one list of settings: the CLI, the Make variables, run names and docs/settings.md follow it."""
import re
from pathlib import Path

import pytest

from labrnn import ConfigError, Settings
from labrnn.cli import build_parser, from_make
from labrnn.settings import DEFAULTS, NAMES, SWEPT, meta, table_rows

pytestmark = pytest.mark.fast
DOCUMENTED = (Path(__file__).resolve().parent.parent / "docs" / "settings.md").read_text(encoding="utf-8")
COMMANDS = build_parser()._subparsers._group_actions[0].choices


@pytest.mark.parametrize("command", ["train", "gradcheck", "report", "sweep"])
def test_every_command_takes_its_settings_under_their_names(command):
    dests = {a.dest for a in COMMANDS[command]._actions if a.dest != "help"}
    assert dests == {n for n in NAMES if command in meta(n).commands}


def test_every_make_variable_is_documented():
    variables = {n.upper() for n in NAMES if {"report", "sweep"} & meta(n).commands}
    rows = set(re.findall(r"^\| `([A-Z_]+)`", DOCUMENTED, re.M))
    assert variables <= rows, variables - rows


@pytest.mark.parametrize("words, argv", [
    (["SEQ=20"], ["--seq=20"]),                        # the old name, still working
    (["SEQ_LENGTH=20"], ["--seq-length=20"]),
    (["ENGINE=numpy", "FORCE=1"], ["--engine=numpy", "--force"]),
    (["CLIP=1"], ["--clip=1"]),
    (["MODEL=my rnn.py"], ["--model=my rnn.py"]),        # a path with a space stays one value
])
def test_make_variables_are_the_flags(words, argv):
    assert from_make("report", COMMANDS["report"], words) == argv
    args = COMMANDS["report"].parse_args(argv)
    assert Settings(**{k: v for k, v in vars(args).items() if k in NAMES})


def test_aliases_settle_the_clashes():
    assert COMMANDS["gradcheck"].parse_args(["--m", "7"]).grad_m == 7
    assert COMMANDS["gradcheck"].parse_args(["--seq", "7"]).seq_length == 7
    assert COMMANDS["report"].parse_args(["--m", "7"]).m == 7
    assert COMMANDS["sweep"].parse_args(["--run-dir", "x"]).reports == "x"
    assert COMMANDS["report"].parse_args(["--run-dir", "x"]).run_dir == "x"
    assert COMMANDS["train"].parse_args(["--out", "x"]).run_dir == "x"


def test_run_names_show_what_differs():
    corpus = {"name": "King James Bible", "sha256": "91b6b57d" + "0" * 56}
    assert Settings().name(corpus) == "king-james-bible-91b6b57d_eta0.1_seq25_m100_sigma0.01_st100000_seed1"
    assert Settings(epochs=3, sample_every=500, engine="numpy").name(corpus) == \
        "king-james-bible-91b6b57d_eta0.1_seq25_m100_sigma0.01_ep3_seed1_se500_enginenumpy"


def test_the_cache_key_has_the_numbers_and_only_them():
    numbers = Settings().numbers()
    assert {"eta", "seq_length", "m", "sigma", "steps", "seed", "engine", "grad_m"} <= numbers.keys()
    assert not {"data", "run_dir", "force", "format", "jobs", "cell_timeout"} & numbers.keys()
    assert Settings(force=True, format="html pdf").numbers() == numbers


def test_settings_are_checked_by_their_declared_type():
    for bad in [dict(eta=0), dict(m=2.5), dict(seq_length=True), dict(engine="torch"), dict(format=("docx",)),
                dict(holdout=0.5), dict(jobs=0), dict(keep_cr=1)]:
        with pytest.raises(ConfigError, match=next(iter(bad))):
            Settings(**bad)


def test_the_report_table_shows_each_labelled_setting():
    rows = dict(table_rows(Settings(epochs=2), 2 * 3_000))
    assert rows["Learning rate η"] == "0.1" and rows["Length"] == "2 epochs" and rows["Gradient check"] == "m = 5"
    assert all(meta(n).symbol for n in SWEPT) and set(DEFAULTS) == set(NAMES)


def test_the_sample_range_shown_is_the_one_the_run_had():
    """A 20,000-step run with the default SAMPLE_UNTIL (100,000) samples until step 20,000, and says so."""
    rows = dict(table_rows(Settings(steps=20_000, sample_every=5_000), 20_000))
    assert rows["Samples"] == "200 characters every 5,000 steps until step 20,000"
    assert dict(table_rows(Settings(steps=25_000), 25_000))["Samples"].endswith("until step 25,000")
    assert dict(table_rows(Settings(steps=50_000, sample_until=20_000), 50_000))["Samples"].endswith("step 20,000")
