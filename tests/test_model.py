import importlib
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

import labrnn
from labrnn.rnn import kernels, reference
from labrnn.rnn.gradcheck import MAX_ABS, MAX_REL
from labrnn.rnn.model import NAMES, init_params, loss_and_grads

pytestmark = pytest.mark.fast
MODELS = Path(__file__).parent / "models"


def _problem(rng, K=30, m=20, T=25, h_scale=0.3, sigma=0.1):
    params = init_params(K, m, sigma, rng)
    params["b"] = rng.standard_normal(m) * 0.1
    params["c"] = rng.standard_normal(K) * 0.1
    x, y = rng.integers(0, K, T), rng.integers(0, K, T)
    return params, x, y, rng.standard_normal(m) * h_scale


def test_shapes_and_initialization(rng):
    p = init_params(K=7, m=4, sigma=0.01, rng=rng)
    assert {k: v.shape for k, v in p.items()} == {"W": (4, 4), "U": (4, 7), "V": (7, 4), "b": (4,), "c": (7,)}
    assert all(v.dtype == np.float64 for v in p.values())
    assert not p["b"].any() and not p["c"].any()
    big = init_params(K=100, m=100, sigma=0.01, rng=rng)["W"]
    assert big.std() == pytest.approx(0.01, rel=0.05)


def test_matches_naive_reference(rng):
    params, x, y, h0 = _problem(rng)
    loss, grads, h = loss_and_grads(params, x, y, h0)
    ref_loss, ref_grads, ref_h = reference.loss_and_grads(params, x, y, h0)
    assert loss == pytest.approx(ref_loss, abs=1e-10)
    for k in NAMES:
        np.testing.assert_allclose(grads[k], ref_grads[k], rtol=0, atol=1e-10, err_msg=k)
    np.testing.assert_allclose(h, ref_h, atol=1e-12)


def _saved():
    """tests/models/reference_rnn.py: labrnn.rnn.model's loss_and_grads as it was before the mistakes became switches
    of its backward pass, saved as a standalone file."""
    spec = importlib.util.spec_from_file_location("reference_rnn", MODELS / "reference_rnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.loss_and_grads


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(4))
def test_loss_and_grads_is_bit_identical_to_the_saved_copy(seed, dtype):
    """One backward pass serves training and the diagnosis: at its defaults it gives the same bits as before."""
    rng = np.random.default_rng(seed)
    params, x, y, h0 = _problem(rng, T=1 + 10 * seed)
    params = {k: v.astype(dtype) for k, v in params.items()}
    if seed == 3:
        params = {k: 30 * v for k, v in params.items()}     # saturated tanh, large scores
    loss, grads, h = loss_and_grads(params, x, y, h0.astype(dtype))
    old_loss, old_grads, old_h = _saved()(params, x, y, h0.astype(dtype))
    assert loss == old_loss and h.tobytes() == old_h.tobytes() and h.dtype == old_h.dtype
    assert all(grads[k].dtype == old_grads[k].dtype and grads[k].tobytes() == old_grads[k].tobytes() for k in NAMES)


def test_compiled_kernel_matches_numpy(rng):
    params, x, y, h0 = _problem(rng)
    loss, grads, _ = loss_and_grads(params, x, y, h0)
    T, m, K = len(x), params["W"].shape[0], params["V"].shape[0]
    out = {k: np.empty_like(v) for k, v in params.items()}
    k_loss = kernels._loss_and_grads(*(params[k] for k in NAMES), x, y, h0,
                                     np.empty((T + 1, m)), np.empty((T, m)), np.empty((T, K)), np.empty((T, m)),
                                     *(out[k] for k in NAMES), np.empty(m))
    assert k_loss == pytest.approx(loss, abs=1e-10)
    for k in NAMES:
        np.testing.assert_allclose(out[k], grads[k], rtol=0, atol=1e-10, err_msg=k)


def test_initial_loss_is_uniform_guessing(bible):
    params = init_params(bible.K, 100, 0.01, np.random.default_rng(1))
    x, y = bible.data[:25].astype(int), bible.data[1:26].astype(int)
    loss, _, _ = loss_and_grads(params, x, y, np.zeros(100))
    assert loss == pytest.approx(25 * np.log(bible.K), rel=0.01)


def test_stable_softmax_keeps_huge_scores_finite(rng):
    params, x, y, h0 = _problem(rng)
    params["V"] *= 1e4
    loss, grads, _ = loss_and_grads(params, x, y, h0)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in grads.values())


def test_gradient_check_passes(bible):
    result = labrnn.gradcheck(bible)
    assert [r.name for r in result.rows] == list(NAMES)
    for r in result.rows:
        assert r.max_abs < MAX_ABS and r.max_rel < MAX_REL, r
    assert result.passed and "PASSED" in result.table()


def test_gradient_check_catches_a_wrong_term(bible):
    def wrong(params, x, y, h0):
        loss, grads, h = loss_and_grads(params, x, y, h0)
        grads["W"] = grads["W"] * 1.01                # a slightly wrong backward pass, the loss right
        return loss, grads, h

    result = labrnn.gradcheck(bible, loss_and_grads=wrong)
    assert not result.passed
    assert [r.name for r in result.rows if not r.passed] == ["W"]


def test_compiled_kernel_keeps_huge_scores_finite(rng):
    params, x, y, h0 = _problem(rng)
    params["V"] *= 1e4
    loss, _, _ = loss_and_grads(params, x, y, h0)
    T, m, K = len(x), params["W"].shape[0], params["V"].shape[0]
    out = [np.empty_like(params[k]) for k in NAMES]
    k_loss = kernels._loss_and_grads(*(params[k] for k in NAMES), x, y, h0, np.empty((T + 1, m)),
                                     np.empty((T, m)), np.empty((T, K)), np.empty((T, m)), *out, np.empty(m))
    assert np.isfinite(k_loss) and k_loss == pytest.approx(loss, rel=1e-12)


def test_compiled_exp_is_within_an_ulp_of_libm():
    """kernels._exp replaces libm's exp in the compiled engine (so that it vectorizes): within 2.3e-16 of it
    from where e^x underflows to where it overflows, NaN kept, and 0 far below."""
    from numba import njit

    @njit
    def exp_all(x):
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = kernels._exp(x[i])
        return out

    x = np.random.default_rng(0).uniform(-700, 709, 200_000)
    np.testing.assert_allclose(exp_all(x), np.array([math.exp(v) for v in x]), rtol=2.3e-16, atol=0)
    assert np.isnan(exp_all(np.array([np.nan]))[0]) and exp_all(np.array([-np.inf, -800.0])).tolist() == [0, 0]
