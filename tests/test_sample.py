"""Compiled synthesis draws what the numpy loop draws, and numba's one-off compilation is announced and timed
apart only when it happens."""
import numpy as np
import pytest
from numba import njit

import labrnn
from labrnn.rnn import engines
from labrnn.report import render
from labrnn.rnn.kernels import compiling
from labrnn.rnn.model import init_params
from labrnn.rnn.sample import synthesize

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("seed, temperature", [(1, 1.0), (2, 1.0), (3, 0.5), (4, 2.0)])
def test_compiled_synthesis_draws_the_same_characters(seed, temperature):
    """libm's tanh and exp (numba) and numpy's SIMD ones differ in the last bit; a network that forgets, as
    trained ones do, draws the same characters from both. (Chaotic weights, sigma = 0.3 at m = 50, amplify
    the difference until a draw flips after ~200 characters: see docs/speed.md.)"""
    params = init_params(65, 50, 0.1, np.random.default_rng(seed))
    h0 = np.tanh(np.random.default_rng(seed + 10).standard_normal(50))
    drawn = {engine: synthesize(params, h0, 7, 3000, np.random.default_rng(seed), temperature, engines.get(engine))
             for engine in ("numpy", "numba")}
    np.testing.assert_array_equal(drawn["numpy"], drawn["numba"])
    assert len(set(drawn["numba"].tolist())) > 20


def test_compiling_is_said_once_and_only_when_it_happens():
    said = []

    @njit
    def fresh(x):
        return x + 1

    with compiling(said.append) as first:
        fresh(1)
        fresh(2.0)                       # a second signature: compiled, not said again
    with compiling(said.append) as again:
        fresh(3)
    assert first.happened and not again.happened
    assert len(said) == 1 and said[0].startswith("compiling the training kernels, once per install: ~")


def test_the_timing_table_shows_updating_sampling_scoring_and_compiling_only_when_done(bible):
    run = labrnn.train(bible, labrnn.Settings(m=10, steps=200, sample_every=100), progress=False)
    assert run.compile_seconds == 0.0                           # the kernels are compiled or cached by now
    rows = dict(line.split(": ", 1) for line in render.timing(run).plain.splitlines())
    assert {"Updating", "Sampling", "Scoring"} <= rows.keys() and "Compiling" not in rows
    assert rows["Updating"].endswith(f"{run.steps_done / run.train_seconds:,.0f} steps/s")
    run.compile_seconds = 19.6
    assert render.timing(run).plain.splitlines()[-1].startswith("Compiling: 19.6 s, before training")
