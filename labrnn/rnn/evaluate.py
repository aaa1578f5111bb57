"""What a checkpoint measures beyond the smooth loss: the loss on held-out text
(does a lower training loss still mean a better model?) and the share of
generated words that are words of the corpus (when does English appear?),
beside the share that text drawn by the corpus's character frequencies scores.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from labrnn.rnn.corpus import WORD, Corpus
from labrnn.rnn.engines import Engine

CHANCE_CHARS = 100_000                     # characters of frequency-drawn text behind a chance share
HELDOUT_MAX = 10_000                       # characters of held-out text scored per checkpoint: ~2% of training time


def words(text: str, vocab: frozenset[str]) -> tuple[float, list[list[int]]]:
    """The share of generated words that are corpus words (0 when there are none), and where those are.

    The spans ([start, end) pairs) let a report mark the real words, as seed 001 bolded them.
    """
    found = list(WORD.finditer(text))
    real = [[w.start(), w.end()] for w in found if w.group().lower() in vocab]
    return (len(real) / len(found) if found else 0.0), real


def words_and_chance(corpus: Corpus, data: np.ndarray, lengths, rng: np.random.Generator):
    """The corpus's words, and what `words` scores, on average, on text of each of `lengths` characters drawn from
    the character frequencies of data (no model): the share a sample of that length reaches by chance on this
    corpus.  The texts are drawn and decoded, the corpus's words collected, then the texts scored."""
    counts = sum(np.bincount(data[i:i + (1 << 20)], minlength=corpus.K) for i in range(0, len(data), 1 << 20))
    freq = counts / len(data)                  # counted by pieces: bincount makes an int64 copy of its input
    drawn = [(length, max(1, CHANCE_CHARS // length)) for length in lengths]
    texts = [corpus.decode(rng.choice(corpus.K, size=n * length, p=freq)) for length, n in drawn]
    vocab = corpus.words()
    return vocab, tuple(sum(words(text[i:i + length], vocab)[0] for i in range(0, n * length, length)) / n
                        for text, (length, n) in zip(texts, drawn))


def heldout_loss(params: Mapping[str, np.ndarray], data: np.ndarray, engine: Engine) -> float:
    """Mean loss per character, in nats, of predicting data[1:] from data[:-1], starting from h = 0."""
    x, y = data[:-1].astype(np.int64), data[1:].astype(np.int64)
    return engine.score(params, x, y) / len(y)


def bits(nats: float) -> float:
    return nats / math.log(2)
