"""Scratch directories that a killed process does not leave behind.

    with scratch.directory("labrnn-task-") as path:     # <tmp>/labrnn-task-XXXXXXXX, empty but for .lock
        ...                                             # removed on the way out, however the block ends

Each directory holds an operating-system lock (flock on its `.lock`) for as long as its process uses it; the
kernel releases it when that process ends in any way, SIGKILL and the out-of-memory killer included.  On the
way in, `directory` removes the directories of the same prefix whose lock is free: their process is gone.  A
process id alone would not do (ids are reused); a lock cannot outlive its process.  Another user's
directories stay: their lock cannot be opened, nor they removed.
"""
from __future__ import annotations

import fcntl
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK = ".lock"
ATTEMPTS = 100          # a new directory swept away before it was locked is made again, this many times at most


class ScratchError(OSError):
    """No scratch directory could be made and locked."""


@contextmanager
def directory(prefix: str, parent: str | Path | None = None) -> Iterator[Path]:
    """A fresh directory `prefix`XXXXXXXX in `parent` (default: the temporary directory, TMPDIR), locked while
    the block runs and removed after it; the stale directories of the same prefix there are removed first."""
    parent = Path(parent if parent is not None else tempfile.gettempdir())
    sweep(prefix, parent)
    path, fd = _make(prefix, parent)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)                # after the removal: a directory it could not remove is stale from now on


def sweep(prefix: str, parent: Path) -> list[Path]:
    """Remove the directories `prefix`* in `parent` whose lock is free; the ones removed."""
    removed = []
    for path in sorted(parent.glob(glob.escape(prefix) + "*")):
        if path.is_dir() and not path.is_symlink():
            fd = _lock(path, create=True, wait=False)
            if fd is not None:
                shutil.rmtree(path, ignore_errors=True)
                os.close(fd)
                removed.append(path)
    return removed


def _make(prefix: str, parent: Path) -> tuple[Path, int]:
    """A new directory and the descriptor holding its lock.  A sweep in another process may remove the directory
    between mkdtemp and the lock, or take the lock first (it creates `.lock` too): then another is made."""
    for _ in range(ATTEMPTS):
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        fd = _lock(path, create=False, wait=True)
        if fd is not None:
            return path, fd
    raise ScratchError(f"no scratch directory {prefix}* could be made and locked in {parent}")


def _lock(path: Path, create: bool, wait: bool) -> int | None:
    """The descriptor of path/.lock, locked and still that directory's lock file; None if it is held elsewhere,
    cannot be opened, or (create False) existed already or was removed meanwhile."""
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_CREAT | (0 if create else os.O_EXCL)
    try:
        fd = os.open(path / LOCK, flags, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        now, held = os.stat(path / LOCK, follow_symlinks=False), os.fstat(fd)
        if (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
            return fd
    except OSError:
        pass
    os.close(fd)
    return None
