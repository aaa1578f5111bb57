"""Degenerate outcomes (labrnn.report.degenerate): each kind found, stated at the report's top and where it shows,
and marked in the index and comparisons (ranked after healthy runs); healthy runs, the default corpus at
several seeds included, raise none."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

import labrnn
from labrnn.report import degenerate
from labrnn.report import pipeline, render
from labrnn.sweeps.comparison import compare


def _run(**kw):
    """A run as the detection reads it: healthy unless told otherwise."""
    sample = SimpleNamespace(step=2000, word_share=0.3, heldout_loss_per_char=2.0)
    base = {"corpus": {"K": 40}, "samples": [SimpleNamespace(step=0, word_share=0.05, heldout_loss_per_char=3.8),
                                              sample], "chance_share": 0.05,
            "best": SimpleNamespace(step=2000, word_share=0.3, chance_share=0.05), "curve": np.full(3000, 40.0),
            "epoch_boundaries": [1000, 2000], "diverged": None, "settings": SimpleNamespace(seq_length=25)}
    return SimpleNamespace(**{**base, **kw})


@pytest.mark.fast
def test_a_healthy_run_and_step_0_raise_nothing():
    assert degenerate.findings(_run()) == []          # step 0 at ln K and at chance is by construction


@pytest.mark.fast
def test_each_kind_is_found_with_its_step():
    curve = np.full(3000, 40.0)
    curve[2000:2400] = np.linspace(40, 55, 400)       # +37% after the reset at step 2,000
    found = degenerate.findings(_run(curve=curve))
    assert [(f.kind, f.step) for f in found] == [("jump", 2000)] and "from 40.00 to 55.00" in found[0].sentence
    slight = np.full(3000, 40.0)
    slight[2000:2100] = 43.9                           # +9.75%: within the margin
    assert degenerate.findings(_run(curve=slight)) == []
    tabs = SimpleNamespace(step=2000, word_share=0.0, chance_share=0.06)
    assert [(f.kind, f.step) for f in degenerate.findings(_run(best=tabs))] == [("words", 2000)]
    late = SimpleNamespace(step=2000, word_share=0.01, heldout_loss_per_char=4.0)     # ln 40 = 3.69
    assert sorted(f.kind for f in degenerate.findings(_run(samples=[late]))) == ["heldout", "words"]
    diverged = degenerate.findings(_run(diverged={"step": 1500, "reason": "the smooth loss exploded"}))
    assert [(f.kind, f.step) for f in diverged] == [("diverged", 1500)]


def test_a_held_out_text_the_model_never_saw_is_stated_everywhere(tmp_path, tiny):
    """A corpus whose held-out end is letters training never shows: the held-out loss goes above ln K; the
    report says so at its top and under Figure 2, the index marks the run."""
    rng = np.random.default_rng(3)
    text = "".join(rng.choice(list("abcde "), 5700)) + "".join(rng.choice(list("vwxyz"), 300))
    data = tmp_path / "unseen-end.txt"
    data.write_text(text, encoding="utf-8")
    result = pipeline.make_report(tiny(data, steps=1000, sample_every=250, sample_until=1000,
                                       reports=tmp_path / "reports"), log=lambda m: None)
    kinds = {f.kind for f in degenerate.findings(result.run)}
    assert "heldout" in kinds
    page = result.report.read_text(encoding="utf-8")
    top = page[:page.index('id="Run-summary"')]
    assert "Degenerate outcome: At step 250 the held-out loss" in top
    assert "Warning: At step 250 the held-out loss" in page[page.index("Figure 2:"):]
    index = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    assert "degenerate, not to be ranked: held-out loss above uniform guessing" in index
    whole = pipeline.make_report(tiny(data, steps=1000, sample_every=250, sample_until=1000, holdout=0,
                                     reports=tmp_path / "reports"), log=lambda m: None)    # healthy; a worse loss
    assert degenerate.findings(whole.run) == []
    page = compare([result.run_dir, whole.run_dir], tmp_path / "reports")
    ranked = json.loads((page.parent / "sweep.json").read_text(encoding="utf-8"))["runs"]
    assert ranked[0]["min_loss_per_char"] > ranked[1]["min_loss_per_char"]        # healthy first all the same
    assert [r["degenerate"] for r in ranked] == [[], ["held-out loss above uniform guessing"]]
    assert "degenerate, ranked last: held-out loss above uniform guessing" in page.read_text(encoding="utf-8")


def test_runs_that_diverge_are_stated_and_ranked_after_a_healthy_one(tmp_path, tiny, genesis):
    """ETA = 500 diverges at step 1 (a loss over 100 times uniform guessing's); ETA = 50 at step 2,000, after its
    samples fell under half of chance in corpus words.  Each report says so at its top, the index and the
    comparison mark them, and both rank after a healthy run."""
    reports = tmp_path / "reports"
    made = {eta: pipeline.make_report(tiny(genesis, eta=eta, steps=3000, sample_every=500, sample_until=3000,
                                           reports=reports), log=lambda m: None) for eta in (0.1, 50, 500)}
    kinds = {eta: {f.kind for f in degenerate.findings(r.run)} for eta, r in made.items()}
    assert kinds[0.1] == set() and kinds[500] == {"diverged"} and {"words", "diverged"} <= kinds[50]
    top = made[50].report.read_text(encoding="utf-8").split('id="Run-summary"')[0]
    assert "Training diverged at step 2,000" in top and "Degenerate outcome: The sample at step" in top
    index = (reports / "index.html").read_text(encoding="utf-8")
    assert index.count("degenerate, not to be ranked: ") == 2 and "fewer corpus words than chance" in index
    page = compare([r.run_dir for r in made.values()], reports)
    ranked = json.loads((page.parent / "sweep.json").read_text(encoding="utf-8"))["runs"]
    assert ranked[0]["degenerate"] == [] and ranked[0]["params"]["eta"] == 0.1
    assert all("diverged" in r["degenerate"] for r in ranked[1:])
    text = page.read_text(encoding="utf-8")
    assert "diverged at step 1" in text and "degenerate, ranked last: fewer corpus words than chance" in text


def test_a_jump_at_an_epoch_boundary_is_stated_everywhere(tmp_path, tiny, genesis_text):
    """A corpus that opens with 5,000 characters of noise before English: at each epoch boundary training goes
    back from what it learnt to the noise, and the smooth loss rises by far more than 10% within 1,000 steps.
    The report says so at its top and under Figure 1, the index and the comparison mark the run."""
    rng = np.random.default_rng(0)
    noise = "".join(rng.choice(sorted(set(genesis_text)), 5000))
    data = tmp_path / "noise-then-genesis.txt"
    data.write_text(noise + genesis_text, encoding="utf-8")
    reports = tmp_path / "reports"
    result = pipeline.make_report(tiny(data, m=32, steps=3000, sample_every=1000, sample_until=3000, reports=reports),
                                  log=lambda m: None)
    found = degenerate.findings(result.run)
    assert {f.kind for f in found} == {"jump"} and [f.step for f in found] == result.run.epoch_boundaries
    page = result.report.read_text(encoding="utf-8")
    first = f"At the epoch boundary at step {found[0].step:,}"
    assert f"Degenerate outcome: {first}" in page[:page.index('id="Run-summary"')]
    assert f"Warning: {first}" in page[page.index("Figure 1:"):]
    index = (reports / "index.html").read_text(encoding="utf-8")
    assert "degenerate, not to be ranked: loss jump at an epoch boundary" in index
    page = compare([result.run_dir], reports)
    assert "degenerate, ranked last: loss jump at an epoch boundary" in page.read_text(encoding="utf-8")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_default_runs_raise_none(seed, bible, genesis_text):
    """The built-in corpus at the default settings (20,000 steps: a sample every 1,000) and a small corpus over
    many epochs (27 boundaries) at three seeds: nothing degenerate."""
    run = labrnn.train(bible, labrnn.Settings(seed=seed, steps=20_000, sample_every=1_000), progress=False)
    assert degenerate.findings(run) == []
    small = labrnn.Corpus(genesis_text, "genesis")
    run = labrnn.train(small, labrnn.Settings(seed=seed, steps=6_000, sample_every=500), progress=False)
    assert len(run.epoch_boundaries) > 20 and degenerate.findings(run) == []


@pytest.mark.fast
def test_a_corpus_learnt_by_heart_is_no_jump():
    """At a few hundredths of a nat per character, round-off (which differs between CPUs) moves the smooth loss by
    10% at a boundary; a jump must also be a real rise, over 0.1 nats per character."""
    curve = np.full(3000, 1.0)                  # seq_length 25: 0.04 nats per character
    curve[2000:2400] = 1.5                      # +50%, but 0.02 nats per character
    assert degenerate.findings(_run(curve=curve)) == []
    curve[2000:2400] = 4.0                      # +3 over 25 characters: 0.12 nats per character
    assert [(f.kind, f.step) for f in degenerate.findings(_run(curve=curve))] == [("jump", 2000)]


@pytest.mark.fast
def test_the_title_block_states_them_first():
    from test_render import fake_run
    curve = np.full(3000, 40.0)
    curve[2000:2400] = 55.0
    shown = render.title_block(fake_run(curve=curve, epoch_boundaries=[1000, 2000]), "2024-05-01T12:00:00+00:00")
    assert "Degenerate outcome: At the epoch boundary at step 2,000" in shown.plain
