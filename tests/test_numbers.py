"""Numbers in and out: one ASCII rule for every number on the command line and through Make, a temperature as
small as a float gets, and a comparison that shows a huge loss in a few characters."""
import json
import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from labrnn import ConfigError
from labrnn.rnn import engines
from labrnn.cli import main
from labrnn.report.run import ensure_run
from labrnn.rnn.model import init_params
from labrnn.rnn.sample import synthesize
from labrnn.settings import parse_number, parse_numbers
from labrnn.sweeps.comparison import number

ROOT = Path(__file__).resolve().parent.parent
QUICK = settings(max_examples=60, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])
# digits of any script but ASCII: Arabic-Indic ١, fullwidth １, Devanagari १, Bengali ১, mathematical 𝟏 ...
OTHER_DIGIT = st.characters(categories=["Nd"]).filter(lambda ch: not ch.isascii())


def _refused(text: str, kind: type) -> bool:
    try:
        parse_number(text, kind)
    except ConfigError:
        return True
    return False


# -- the rule ---------------------------------------------------------------------------------------------
@pytest.mark.fast
@QUICK
@given(st.integers())
def test_every_integer_written_in_ascii_reads_back(n):
    assert parse_number(str(n), int) == n and parse_number(f" {n}\t", int) == n


@pytest.mark.fast
@QUICK
@given(st.floats(allow_nan=False))
def test_every_float_written_in_ascii_reads_back(x):
    for text in (repr(x), f"{x:e}", f"{x:f}"):
        assert parse_number(text, float) == float(text)


@pytest.mark.fast
@QUICK
@given(number=st.one_of(st.integers(min_value=0).map(str), st.floats(allow_nan=False).map(repr)),
       digit=OTHER_DIGIT, at=st.integers(min_value=0))
def test_a_digit_of_another_script_anywhere_is_refused(number, digit, at):
    """Python's int() and float() read '١٢' as 12; labrnn refuses it, whatever the setting."""
    at %= len(number) + 1
    text = number[:at] + digit + number[at:]
    assert _refused(text, int) and _refused(text, float)
    with pytest.raises(ConfigError, match="write numbers in ASCII digits"):
        parse_number(digit * 3, int)


@pytest.mark.fast
@QUICK
@given(st.text(max_size=12))
def test_what_is_accepted_is_ascii_and_what_python_reads(text):
    for kind in (int, float):
        if not _refused(text, kind):
            assert text.isascii() and "_" not in text
            assert parse_number(text, kind) == kind(text) or math.isnan(parse_number(text, kind))


@pytest.mark.fast
@pytest.mark.parametrize("text, kind", [("1_000", int), ("1_0.5", float), ("\u00a012", int), ("12\u3000", int),
                                        ("0x10", int), ("", float), ("2.5", int), ("1e3", int)])
def test_underscores_unicode_spaces_and_other_forms_are_refused(text, kind):
    assert _refused(text, kind)


@pytest.mark.fast
def test_a_sweeps_values_are_separated_by_ascii_blanks_only():
    assert parse_numbers(" 0.05\t0.1  0.2 ", float) == [0.05, 0.1, 0.2]
    for text in ["0.05\u30000.1", "0.05\u00a00.1", "   "]:
        with pytest.raises(ConfigError):
            parse_numbers(text, float)


# -- through the command line and Make: refused as FORCE=２ is --------------------------------------------
FLAGS = st.sampled_from(["--steps", "--eta", "--m", "--seed", "--seq", "--sigma", "--sample-len", "--clip"])


@QUICK
@given(flag=FLAGS, digits=st.lists(OTHER_DIGIT, min_size=1, max_size=3))
def test_the_cli_refuses_other_scripts_digits_in_one_line(flag, digits, genesis, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        main(["train", "--data", str(genesis), "--run-dir", str(out), "--quiet", f"{flag}={''.join(digits)}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and "Traceback" not in err[0]
    assert err[0].startswith(f"labrnn train: error: argument {flag}") and "write numbers in ASCII digits" in err[0]
    assert not out.exists()


@pytest.mark.parametrize("variable, value", [("STEPS", "１２"), ("ETA", "١.٠"), ("M", "１０"), ("SEED", "１"),
                                             ("FORCE", "２")])
def test_make_refuses_other_scripts_digits_as_it_refuses_force_2(variable, value, genesis, tmp_path):
    done = subprocess.run(["make", "-s", "-C", str(ROOT), "report", f"DATA={genesis}", f"RUN_DIR={tmp_path / 'r'}",
                           f"{variable}={value}"], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("MAKE")})
    lines = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("labrnn report: error: ") and value in lines[0]
    assert not (tmp_path / "r").exists()


# -- the temperature -------------------------------------------------------------------------------------
def _network(seed=3, K=30, m=16):
    params = init_params(K, m, 0.5, np.random.default_rng(seed))
    return params, np.tanh(np.random.default_rng(seed + 1).standard_normal(m))


def _greedy(params, h0, x0, n):
    """The most likely character at every step, fed back."""
    h, x, out = h0.copy(), x0, []
    for _ in range(n):
        h = np.tanh(params["W"] @ h + params["U"][:, x] + params["b"])
        out.append(x := int(np.argmax(params["V"] @ h + params["c"])))
    return out


@pytest.mark.fast
@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("temperature", [1e-320, 5e-324, 1e-300])
def test_a_tiny_temperature_draws_the_most_likely_character(engine, temperature):
    params, h0 = _network()
    drawn = synthesize(params, h0, 2, 200, np.random.default_rng(0), temperature, engines.get(engine))
    assert drawn.tolist() == _greedy(params, h0, 2, 200)
    assert len(set(drawn.tolist())) > 1


@pytest.mark.fast
@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_the_draws_at_temperature_1_are_those_of_the_plain_softmax(engine):
    """Subtracting the largest score before dividing by T = 1 changes no number: the draws of p itself."""
    params, h0 = _network(seed=5)
    u = np.random.default_rng(9).random(300)
    h, x, expected = h0.copy(), 4, []
    for t in range(300):
        h = np.tanh(params["W"] @ h + params["U"][:, x] + params["b"])
        o = params["V"] @ h + params["c"]
        cdf = np.cumsum(np.exp(o - o.max()))
        expected.append(x := min(int(np.searchsorted(cdf, u[t] * cdf[-1], side="right")), len(cdf) - 1))
    assert synthesize(params, h0, 4, 300, np.random.default_rng(9), 1.0, engines.get(engine)).tolist() == expected


def test_temperature_1e_320_trains_and_samples_more_than_newlines(genesis, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(genesis), "--steps", "300", "--m", "16", "--sample-every", "100",
                 "--sample-len", "80", "--best-len", "80", "--temperature", "1e-320", "--run-dir", str(out),
                 "--quiet"]) == 0
    samples = json.loads((out / "run.json").read_text())["samples"]
    assert len(samples) == 4 and all(set(s["text"]) != {"\n"} for s in samples)
    assert len(set(samples[-1]["text"])) > 2


@pytest.mark.parametrize("value", ["0", "-1e-320", "-0"])
def test_a_temperature_of_zero_or_less_stays_refused(value, genesis, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--data", str(genesis), f"--temperature={value}", "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and err == [f"labrnn train: error: temperature must be a positive finite number, "
                                           f"got {float(value)!r}"]
    assert not (tmp_path / "r").exists()


# -- numbers shown ----------------------------------------------------------------------------------------
@pytest.mark.fast
@pytest.mark.parametrize("x, spec, shown", [(1e308, ".2f", "1e+308"), (42.687, ".2f", "42.69"), (1.7074, ".3f", "1.707"),
                                            (123456.7, ",.0f", "123,457"), (-3e12, ".2f", "-3e+12"),
                                            (math.inf, ".2f", "inf"), (math.nan, ".3f", "nan")])
def test_a_number_is_shown_in_a_few_characters(x, spec, shown):
    assert number(x, spec) == shown


def test_compare_shows_a_loss_of_1e308_in_a_few_characters(tiny, tmp_path, capsys):
    run = tmp_path / "copied run"
    ensure_run(tiny(run_dir=str(run)))
    record = json.loads((run / "run.json").read_text())
    record["best"]["smooth_loss"] = 1e308
    (run / "run.json").write_text(json.dumps(record))
    assert main(["compare", str(run), "--reports", str(tmp_path / "reports")]) == 0
    page = Path(capsys.readouterr().out.strip()).read_text(encoding="utf-8")
    assert "1e+308" in page and "0" * 30 not in page
    done = subprocess.run(["make", "-s", "-C", str(ROOT), "compare", f"DIRS='{run}'", f"REPORTS={tmp_path / 'made'}"],
                          capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("MAKE")})
    assert done.returncode == 0, done.stderr
    page = Path(done.stdout.strip()).read_text(encoding="utf-8")
    assert "1e+308" in page and "0" * 30 not in page
