"""Engines are objects of one interface, registered by name, chosen once per run and passed to whoever trains,
synthesizes or scores; what a chunk of updates needs beyond the state is one Hyperparameters value."""
import math
from dataclasses import FrozenInstanceError

import pytest

import labrnn
from labrnn import Settings
from labrnn.rnn import engines
from labrnn.rnn.engines import Engine, Hyperparameters, NumpyEngine

pytestmark = pytest.mark.fast


def test_every_registered_engine_has_the_interface_and_its_name():
    assert set(engines.ENGINES) == {"numpy", "numba"}
    for name in engines.ENGINES:
        engine = engines.get(name)
        assert isinstance(engine, Engine) and engine.name == name
    assert engines.get("numba").compiled and not engines.get("numpy").compiled


def test_hyperparameters_of_a_run_hold_the_divergence_limits():
    uniform = 25 * math.log(65)
    hyper = Hyperparameters.of(Settings(eta=0.05, seq_length=25, clip=2.0), 65)
    assert (hyper.seq_length, hyper.eta, hyper.clip) == (25, 0.05, 2.0)
    assert hyper.limit == 2 * uniform and hyper.ceiling == engines.CEILING * uniform
    kept = Hyperparameters.of(Settings(keep_going=True), 65)
    assert kept.limit == kept.ceiling == math.inf
    with pytest.raises(FrozenInstanceError):
        hyper.eta = 1.0


def test_a_run_chooses_its_engine_once_and_trains_samples_and_scores_through_it(bible, monkeypatch):
    calls = {"made": 0, "train": 0, "synthesize": 0, "score": 0}

    class Counting(NumpyEngine):
        def __init__(self, *args):
            calls["made"] += 1
            super().__init__(*args)

        def train(self, *args):
            calls["train"] += 1
            return super().train(*args)

        def synthesize(self, *args):
            calls["synthesize"] += 1
            return super().synthesize(*args)

        def score(self, *args):
            calls["score"] += 1
            return super().score(*args)

    monkeypatch.setitem(engines.ENGINES, "numpy", Counting)
    run = labrnn.train(bible, Settings(m=10, steps=40, sample_every=20, sample_len=5, best_len=5, engine="numpy"),
                       progress=False)
    assert run.steps_done == 40 and len(run.samples) == 3
    assert calls["made"] == 1 and calls["train"] >= 2
    assert calls["synthesize"] == 3 + 1 and calls["score"] == 3          # the samples, and the best passage
