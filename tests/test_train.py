import json
from dataclasses import replace

import numpy as np
import pytest

import labrnn
from labrnn import ConfigError, RunDir, Settings
from labrnn.rnn import engines
from labrnn.rnn.engines import Hyperparameters, TrainState, adagrad_update
from labrnn.rnn.model import NAMES, init_params

pytestmark = pytest.mark.fast

SMALL = dict(m=30, steps=600, sample_every=200, sample_len=50, best_len=80)


def test_adagrad_update_by_hand():
    theta = np.array([1.0, 1.0, 1.0])
    grad = np.array([3.0, -12.0, 0.0])          # -12 is clipped to -5
    mem = np.array([16.0, 0.0, 4.0])
    adagrad_update(theta, grad, mem, eta=0.5, clip=5.0)
    np.testing.assert_array_equal(grad, [3.0, -5.0, 0.0])
    np.testing.assert_array_equal(mem, [25.0, 25.0, 4.0])
    np.testing.assert_allclose(theta, [1 - 0.5 * 3 / 5, 1 + 0.5 * 5 / 5, 1.0], rtol=1e-9)


def test_compiled_adagrad_by_hand():
    from labrnn.rnn.kernels import _adagrad
    theta, grad, mem = np.ones((1, 3)), np.array([[3.0, -12.0, 7.0]]), np.array([[16.0, 0.0, 0.0]])
    _adagrad(theta, grad, mem, 0.5, 5.0)
    np.testing.assert_array_equal(mem, [[25.0, 25.0, 25.0]])
    np.testing.assert_allclose(theta, [[0.7, 1.5, 0.5]], rtol=1e-9)


def test_sample_steps():
    assert Settings(steps=30_000).sample_steps(30_000) == [0, 10_000, 20_000, 30_000]
    assert Settings(steps=25_000).sample_steps(25_000) == [0, 10_000, 20_000, 25_000]
    assert Settings(steps=50_000, sample_until=20_000).sample_steps(50_000) == [0, 10_000, 20_000]


def test_epochs_override_steps():
    c = Settings(seq_length=25, epochs=2)
    assert c.steps_per_epoch(1001) == 40               # e = 0, 25, ..., 975 <= 1001 - 26
    assert c.total_steps(1001) == 80


@pytest.mark.parametrize("bad", [
    dict(eta=0), dict(eta=-1), dict(eta=float("nan")), dict(eta=float("inf")), dict(eta="abc"),
    dict(seq_length=0), dict(m=0), dict(m=2.5), dict(steps=-1), dict(steps=0), dict(epochs=0),
    dict(sigma=0), dict(temperature=0), dict(sample_every=0), dict(seed=-1), dict(sample_len=0),
])
def test_impossible_hyperparameters(bad):
    with pytest.raises(ConfigError, match=next(iter(bad)).split("_")[0]):
        Settings(**bad)


@pytest.fixture(scope="module")
def small_run(bible):
    return labrnn.train(bible, Settings(**SMALL), progress=False)


def test_short_run_learns(small_run, bible):
    curve = small_run.curve
    assert len(curve) == 600 and np.isfinite(curve).all()
    assert curve[0] == pytest.approx(25 * np.log(bible.K), rel=0.01)
    assert curve[-1] < 0.8 * curve[0]


def test_samples_and_best(small_run):
    assert [s.step for s in small_run.samples] == [0, 200, 400, 600]
    assert all(len(s.text) == 50 for s in small_run.samples)
    assert small_run.samples[1].smooth_loss == small_run.curve[200]
    assert small_run.best.step == int(np.argmin(small_run.curve))
    assert small_run.best.smooth_loss == small_run.curve.min()
    assert len(small_run.best.text) == 80


def test_same_seed_same_run(small_run, bible):
    again = labrnn.train(bible, Settings(**SMALL), progress=False)
    np.testing.assert_array_equal(again.curve, small_run.curve)
    assert again.samples == small_run.samples and again.best == small_run.best
    other = labrnn.train(bible, Settings(**SMALL, seed=2), progress=False)
    assert other.samples[0].text != small_run.samples[0].text


def test_engines_agree(bible):
    """The compiled engine follows the numpy reference step for step.

    AdaGrad's first updates amplify round-off about 1e4-fold every few steps
    (g / sqrt(g^2 + 1e-8) has slope 1e4 at zero), so two correct engines agree
    to 1e-9 over the first steps and, after that, in their statistics only.
    """
    def run(engine, n):
        state = TrainState.start(init_params(bible.K, 50, 0.01, np.random.default_rng(1)), n)
        engines.get(engine).train(state, bible.data, 0, n, Hyperparameters(25, eta=0.1, clip=5.0))
        return state.params, state.curve, state.vector

    (p_np, c_np, s_np), (p_nb, c_nb, s_nb) = run("numpy", 4), run("numba", 4)
    for a, b in zip(p_np, p_nb):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    np.testing.assert_allclose(c_np, c_nb, rtol=1e-12)
    np.testing.assert_allclose(s_np, s_nb, rtol=0, atol=1e-9)
    long_np, long_nb = run("numpy", 1500)[1], run("numba", 1500)[1]
    assert long_nb[-1] == pytest.approx(long_np[-1], rel=0.02)


def test_run_directory_round_trip(small_run, tmp_path):
    RunDir(tmp_path / "run").save_run(small_run)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert {"params", "corpus", "samples", "best", "steps_done", "epochs_done", "interrupted",
            "wall_seconds", "steps_per_second", "versions"} <= record.keys()
    assert set(record["params"]) >= {"eta", "seq_length", "m", "sigma", "steps", "epochs", "seed",
                                     "sample_every", "sample_until", "sample_len", "best_len",
                                     "temperature", "keep_cr", "engine", "grad_m"}
    assert set(record["corpus"]) == {"name", "path", "size", "K", "sha256"}
    back = RunDir(tmp_path / "run").load_run()
    np.testing.assert_array_equal(back.curve, small_run.curve)
    for k in NAMES:
        np.testing.assert_array_equal(back.best_params[k], small_run.best_params[k])
    assert back.samples == small_run.samples and back.best == small_run.best
    assert back.settings.numbers() == small_run.settings.numbers()
    assert not list((tmp_path / "run").glob("*.tmp"))


def test_damaged_run_directory(small_run, tmp_path):
    rd = RunDir(tmp_path)
    rd.save_run(small_run)
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(labrnn.RunDirError, match="damaged"):
        rd.load_run()
    (tmp_path / "run.json").unlink()
    with pytest.raises(labrnn.RunDirError, match="run.json is missing"):
        rd.load_run()


def test_unknown_engine_is_named():
    with pytest.raises(ConfigError, match="engine must be numba or numpy"):
        Settings(engine="torch")
    with pytest.raises(ValueError, match="unknown engine 'torch'"):
        engines.get("torch")


def test_run_json_names_the_engine(bible, tmp_path):
    run = labrnn.train(bible, Settings(m=10, steps=50, sample_every=50, engine="numpy"), progress=False)
    RunDir(tmp_path).save_run(run)
    assert json.loads((tmp_path / "run.json").read_text())["params"]["engine"] == "numpy"


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_clip_bounds_every_update(bible, engine):
    """With clip = c, no parameter moves by more than eta * c / sqrt(c^2 + 1e-8) ~ eta in the first update."""
    def first_update(clip):
        state = TrainState.start(init_params(bible.K, 20, 0.5, np.random.default_rng(3)), 1)
        before = [p.copy() for p in state.params]
        engines.get(engine).train(state, bible.data, 0, 1, Hyperparameters(25, eta=0.1, clip=clip))
        return max(np.abs(p - b).max() for p, b in zip(state.params, before)), state.mems
    step_small, mems_small = first_update(0.01)
    step_big, mems_big = first_update(5.0)
    assert step_small <= 0.1 + 1e-12 and max(m.max() for m in mems_small) <= 0.01 ** 2 + 1e-18
    assert max(m.max() for m in mems_big) > 0.01 ** 2              # sigma 0.5 makes gradients beyond 0.01


def test_clip_is_a_setting_of_the_run(bible):
    a = labrnn.train(bible, Settings(m=20, steps=300, sample_every=300, clip=0.05), progress=False)
    b = labrnn.train(bible, Settings(m=20, steps=300, sample_every=300), progress=False)
    assert a.curve[-1] != b.curve[-1] and a.settings.numbers()["clip"] == 0.05
    assert Settings(clip=1.0).name({"name": "x", "sha256": "0" * 8}).endswith("_seed1_clip1")
    with pytest.raises(ConfigError, match="clip must be a positive finite number"):
        Settings(clip=0)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_an_impossible_loss_is_divergence_at_step_0(bible, engine):
    """sigma = 1e300 gives a first loss of ~3e302: divergence at once, not at the window test's step 2,000."""
    settings = Settings(m=20, sigma=1e300, steps=3000, sample_every=1000, sample_len=20, best_len=20, engine=engine)
    run = labrnn.train(bible, settings, progress=False)
    assert run.diverged["step"] == 0 and run.steps_done == 1
    assert f"above {engines.CEILING} x seq_length x ln K" in run.diverged["reason"]
    kept = labrnn.train(bible, replace(settings, keep_going=True, steps=5), progress=False)
    assert kept.diverged is None and kept.steps_done == 5         # KEEP_GOING trains on past the ceiling too
