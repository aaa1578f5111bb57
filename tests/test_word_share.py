"""The share of corpus words measures words: at step 0 it is at chance, after training clearly above, on the
default corpus and on one full of one-letter words and initials (20,000 steps each, so not marked fast)."""
from collections import Counter

import numpy as np
import pytest

import labrnn
from labrnn.rnn import evaluate


def one_letter_corpus(path):
    """400,000 characters of which half the tokens are one-letter words ("a", "I", "O") and initials ("J."),
    the rest frequent words of the Bible, some followed by a digit or a punctuation mark: uniform random text
    over its 71 characters scored 32% corpus words when single letters counted."""
    rng = np.random.default_rng(7)
    bible = labrnn.load_corpus().text
    common = [w for w, _ in Counter(evaluate.WORD.findall(bible.lower())).most_common(150)]
    letters = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    marks = list(",;:!?'()-\"0123456789")
    n = 80_000
    tokens = [rng.choice(["a", "I", "O"]) if r < 0.3 else f"{l}." if r < 0.5 else w + p if r < 0.6 else w
              for r, w, l, p in zip(rng.random(n), rng.choice(common, n), rng.choice(letters, n), rng.choice(marks, n))]
    path.write_text(" ".join(tokens), encoding="utf-8")
    return path


@pytest.mark.parametrize("data", ["bible", "one-letter"])
def test_word_share_starts_at_chance_and_rises_above_it(data, tmp_path):
    """The step-0 sample scores near what text drawn by the corpus's character frequencies scores; a model
    trained for 20,000 steps clearly above it."""
    corpus = labrnn.load_corpus(None if data == "bible" else one_letter_corpus(tmp_path / "initials.txt"))
    settings = labrnn.Settings(steps=20_000, sample_every=20_000, sample_len=1000, best_len=1000)
    run = labrnn.train(corpus, settings, progress=False)
    first, last = run.samples[0], run.samples[-1]
    assert 0.01 < run.chance_share < 0.1
    assert abs(first.word_share - run.chance_share) < 0.04
    assert last.word_share > run.chance_share + 0.3 and run.best.word_share > run.best.chance_share + 0.3
