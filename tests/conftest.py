import numpy as np
import pytest

import labrnn


@pytest.fixture(scope="session")
def bible():
    return labrnn.load_corpus()


@pytest.fixture
def write(tmp_path):
    """Write bytes or text to a file in tmp_path and return its path."""
    def _write(content, name="corpus.txt"):
        p = tmp_path / name
        p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return p
    return _write


@pytest.fixture
def rng():
    return np.random.default_rng(7)
