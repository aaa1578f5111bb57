import math

import pytest

import labrnn
from labrnn.rnn import engines, evaluate
from labrnn.rnn.corpus import Corpus
from labrnn.rnn.model import init_params

pytestmark = pytest.mark.fast


def test_words_by_hand():
    vocab = Corpus("And God said, Let there be light: and there was light.", "genesis").words()
    assert {"and", "god", "light", "there"} <= vocab
    assert evaluate.words("and gid saod light", vocab) == (0.5, [[0, 3], [13, 18]])
    assert evaluate.words("... 123 !!", vocab) == (0.0, [])
    assert evaluate.words("And, GOD!", vocab)[0] == 1.0
    assert evaluate.words("a I J. R. light", vocab) == (1.0, [[10, 15]])      # one letter is no word


def test_heldout_loss_engines_agree(bible, rng):
    params = init_params(bible.K, 40, 0.1, rng)
    data = bible.data[-3000:]
    nb = evaluate.heldout_loss(params, data, engines.get("numba"))
    np_ = evaluate.heldout_loss(params, data, engines.get("numpy"))
    assert nb == pytest.approx(np_, rel=1e-12)
    untrained = evaluate.heldout_loss(init_params(bible.K, 40, 0.01, rng), data, engines.NumbaEngine())
    assert untrained == pytest.approx(math.log(bible.K), rel=0.01)


def test_samples_carry_heldout_loss_and_word_share(bible):
    run = labrnn.train(bible, labrnn.Settings(m=30, steps=1000, sample_every=500, sample_len=100), progress=False)
    first, last = run.samples[0], run.samples[-1]
    for s in run.samples:
        assert s.heldout_bits_per_char == pytest.approx(s.heldout_loss_per_char / math.log(2))
        assert 0 <= s.word_share <= 1
    assert last.heldout_loss_per_char < first.heldout_loss_per_char - 0.5
    assert last.word_share > first.word_share
    assert run.train_chars == bible.size - int(bible.size * 0.05)
    assert run.heldout_chars_scored == evaluate.HELDOUT_MAX


def test_holdout_off(bible):
    run = labrnn.train(bible, labrnn.Settings(m=10, steps=10, holdout=0), progress=False)
    assert run.samples[0].heldout_loss_per_char is None and "heldout_loss_per_char" not in run.samples[0].to_dict()
    assert run.train_chars == bible.size

