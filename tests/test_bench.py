"""The bench's yardsticks compute what labrnn computes: a faster wrong loop would flatter nobody honestly."""
import sys
from pathlib import Path

import numpy as np
import pytest

from labrnn.rnn import model, reference
from labrnn.rnn.model import NAMES, init_params

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import classic  # noqa: E402

pytestmark = pytest.mark.fast


def test_the_classic_loop_matches_labrnn_to_round_off():
    K, m, T = 11, 7, 9
    rng = np.random.default_rng(3)
    params = init_params(K, m, 0.3, rng)
    params["b"], params["c"] = rng.standard_normal(m) * 0.1, rng.standard_normal(K) * 0.1
    x, y, h0 = rng.integers(0, K, T), rng.integers(0, K, T), rng.standard_normal(m) * 0.1
    columns = {k: v.reshape(-1, 1) if v.ndim == 1 else v for k, v in params.items()}
    loss, grads, h = classic.loss_and_grads(columns, list(x), list(y), h0.reshape(-1, 1))
    for impl in (model.loss_and_grads, reference.loss_and_grads):
        want_loss, want, want_h = impl(params, x, y, h0)
        assert loss == pytest.approx(want_loss, rel=1e-12)
        np.testing.assert_allclose(h.ravel(), want_h, rtol=0, atol=1e-14)
        for k in NAMES:
            np.testing.assert_allclose(grads[k].reshape(want[k].shape), want[k], rtol=0, atol=1e-13)


def test_the_classic_loop_learns():
    data = np.tile(np.arange(5), 200)
    first = classic.train(data, 5, 1, m=10, seq_length=10, eta=0.1)
    last = classic.train(data, 5, 300, m=10, seq_length=10, eta=0.1)
    assert last < first - 1.0
