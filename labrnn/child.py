"""The process that runs a student's model file: ``python -m labrnn.child FD TRACE``, started by `labrnn.sandbox`.

Their code runs here and only here, so a `sys.exit`, an endless loop or a crash of theirs ends this process,
never labrnn's.  Over the connection on file descriptor FD (a `multiprocessing.connection.Connection`) it
receives the file's path and source (the bytes labrnn hashed), then requests ``(params, x, y, h0)``; it answers
each with ``("ok", value)`` or ``("error", text)``.  Replies hold only built-in types (arrays as
``("array", type, dtype, shape, bytes)``), so the parent unpickles them without importing anything: an
object of a class of theirs arrives as its type's name, never as their class.  On a crash, or on SIGUSR1
(labrnn sends it to a call past its time limit), faulthandler writes the Python stack to the file TRACE, so
the parent can say at which line of theirs it was.
"""
from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
import time
import traceback
import types
from collections.abc import Mapping
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

FUNCTION = "loss_and_grads"
NUMERIC = "biufc"               # the dtype kinds an array may have to cross the pipe


def encode(value, depth: int = 0):
    """A reply as built-in types only: arrays and numbers as raw bytes, mappings and sequences item by item."""
    type_name = type(value).__name__
    if isinstance(value, (np.ndarray, np.generic, bool, int, float, complex)):
        array = np.asarray(value)
        if array.dtype.kind in NUMERIC:
            array = np.ascontiguousarray(array)
            return ("array", type_name, array.dtype.str, array.shape, array.tobytes())
        return ("other", f"{type_name} of {array.dtype}")
    if depth < 2 and isinstance(value, Mapping):
        return ("mapping", type_name, [(k if isinstance(k, str) else repr(k)[:40], encode(v, depth + 1))
                                       for k, v in list(value.items())[:20]])
    if depth < 1 and isinstance(value, (tuple, list)):
        return ("sequence", type_name, [encode(v, depth + 1) for v in value[:10]], len(value))
    if value is None:
        return ("none",)
    return ("other", type_name)


def theirs(path: str, filename: str) -> bool:
    """A frame of their code: their file, or a file beside it (a helper module of theirs)."""
    return filename == path or Path(filename).parent == Path(path).parent


def describe(err: BaseException, path: str, doing: str) -> tuple[int | None, str]:
    """The line of theirs where `err` was raised, and the traceback trimmed to their own frames."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if theirs(path, f.filename)]
    if isinstance(err, SyntaxError) and err.filename == path:
        line = err.lineno
    else:
        line = frames[-1].lineno if frames else None
    text = "".join(traceback.format_exception_only(type(err), err)).rstrip()
    if frames:
        text = ("Traceback (your frames only):\n" + "".join(traceback.format_list(frames)) + text)
    return line, f"{doing} raised {type(err).__name__}\n{text}"


def load(path: str, source: bytes):
    """Their file run as a module (not as __main__: a `if __name__ == "__main__":` block of theirs stays off)."""
    stem = Path(path).stem
    module = types.ModuleType(stem if stem.isidentifier() else "student_model")
    module.__file__ = path
    sys.modules[module.__name__] = module
    sys.path.insert(0, str(Path(path).parent))
    exec(compile(source, path, "exec"), module.__dict__)
    return module


def watch_parent() -> None:
    """End this process when labrnn's is gone, even while their code loops (a thread: it runs between bytecodes)."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def serve(conn: Connection) -> None:
    path, source = conn.recv()
    try:
        module = load(path, source)
    except BaseException as err:                 # SystemExit and KeyboardInterrupt too: they end only the import
        conn.send(("error", describe(err, path, "importing the file")))
        return
    function = getattr(module, FUNCTION, None)
    if not callable(function):
        conn.send(("missing", "a " + type(function).__name__ if function is not None else None))
        return
    code = getattr(function, "__code__", None)
    conn.send(("ready", code.co_firstlineno if code is not None and code.co_filename == path else None))
    while True:
        try:
            params, x, y, h0 = conn.recv()
        except EOFError:
            return
        try:
            reply = ("ok", encode(function(params, x, y, h0)))
        except BaseException as err:
            reply = ("error", describe(err, path, f"the call {FUNCTION}(params, x, y, h0)"))
        conn.send(reply)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C is labrnn's to handle: it stops at the next chunk
    trace = os.fdopen(int(sys.argv[2]), "w")
    faulthandler.enable(trace, all_threads=True)
    faulthandler.register(signal.SIGUSR1, trace, all_threads=True)
    conn = Connection(int(sys.argv[1]))
    watch_parent()
    serve(conn)
    conn.close()


if __name__ == "__main__":
    main()
