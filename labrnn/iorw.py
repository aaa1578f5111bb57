"""Writing files so that a reader never sees half of one."""
from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

# What reading a truncated or garbled .json/.npz raises: the file is damaged, not the program.
DAMAGED = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile)


def atomic_write(target: Path, write) -> None:
    """Write through a temporary file in the same directory, fsync, then rename."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
