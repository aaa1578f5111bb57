"""The process that runs a student's model file: ``python -I labrnn/child.py FD TRACE PARENT``, started by
`labrnn.sandbox`.

A standalone program, not a module of the package: labrnn is never loaded here, so their code cannot reach
labrnn's own function or objects (a file that imports labrnn is told so, see `NoLabrnn`).  It loads
`confine.py` beside it by path and numpy, then confines itself (`confine.confine`) while still
single-threaded, and only then runs their file: its own copy in the scratch directory that is its cwd.

Over the connection on file descriptor FD it receives its orders (pickled by labrnn, which it trusts), then
requests ``(params, x, y, h0)``; it answers each with a frame that holds data only, never a pickle: a 4-byte
little-endian length, a JSON header, then the raw bytes of the arrays it names (`frame`).  On a crash, or on
SIGUSR1 (labrnn sends it to a call past its time limit), faulthandler writes the Python stack to the file TRACE.
"""
import faulthandler
import importlib.abc
import importlib.util
import json
import os
import signal
import struct
import sys
import traceback
import types
from collections.abc import Mapping
from multiprocessing.connection import Connection

FUNCTION = "loss_and_grads"
NUMERIC = "biuf"                # the dtype kinds an array may have to cross the pipe
MAX_TEXT = 4096                 # an exception message or a type's name is cut here


class NoLabrnn(importlib.abc.MetaPathFinder):
    """Refuses `import labrnn`: a file graded as the student's own may not call labrnn's implementation."""

    def find_spec(self, name, path=None, target=None):
        if name == "labrnn" or name.startswith("labrnn."):
            raise ImportError(f"{FUNCTION} must be your own code: this file imports labrnn, whose implementation "
                              "is the reference it is compared with", name="labrnn")
        return None


def encode(value, blobs: list, depth: int = 0):
    """A reply as JSON data: arrays and numbers as [kind, type, dtype, shape] with their bytes appended to
    `blobs`, mappings and sequences item by item (a few levels, a few items), anything else by its type's name."""
    import numpy as np
    type_name = type(value).__name__[:80]
    if isinstance(value, (np.ndarray, np.generic, bool, int, float)):
        try:
            array = np.asarray(value)
        except OverflowError:
            return ["other", type_name]
        if array.dtype.kind in NUMERIC and array.ndim <= 4:
            array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
            blobs.append(array.tobytes())
            return ["array", type_name, array.dtype.str, list(array.shape)]
        return ["other", f"{type_name} of {array.dtype}"[:80]]
    if depth < 2 and isinstance(value, Mapping):
        return ["mapping", type_name, [[k[:40] if isinstance(k, str) else type(k).__name__[:40],
                                        encode(v, blobs, depth + 1)] for k, v in list(value.items())[:20]]]
    if depth < 1 and isinstance(value, (tuple, list)):
        return ["sequence", type_name, [encode(v, blobs, depth + 1) for v in value[:10]], len(value)]
    if value is None:
        return ["none"]
    return ["other", type_name]


def frame(kind: str, detail=None, blobs: tuple = ()) -> bytes:
    """A reply: its length-prefixed JSON header {"kind", "detail"}, then the arrays' raw bytes."""
    header = json.dumps({"kind": kind, "detail": detail}).encode()
    return b"".join((struct.pack("<I", len(header)), header, *blobs))


def describe(err: BaseException, path: str, doing: str) -> tuple:
    """The line of theirs where `err` was raised, and the traceback trimmed to their own frames, paths shown
    by file name only and the text cut at MAX_TEXT."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == path]
    if isinstance(err, SyntaxError) and err.filename == path:
        line = err.lineno
    else:
        line = frames[-1].lineno if frames else None
    text = "".join(traceback.format_exception_only(type(err), err)).rstrip()
    if frames:
        text = "Traceback (your frames only):\n" + "".join(traceback.format_list(frames)) + text
    text = text.replace(os.path.dirname(path) + os.sep, "")
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + " [cut]"
    return line, f"{doing} raised {type(err).__name__}\n{text}"


def load(path: str):
    """Their file, as copied into the scratch directory, run as a module (not as __main__)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    module = types.ModuleType(stem if stem.isidentifier() else "student_model")
    module.__file__ = path
    sys.modules[module.__name__] = module
    with open(path, "rb") as fh:
        source = fh.read()
    exec(compile(source, path, "exec"), module.__dict__)
    return module


def _kind(err: BaseException) -> str:
    """An exception of theirs: "memory" when it is the address-space limit, else "error"."""
    return "memory" if isinstance(err, MemoryError) else "error"


def serve(conn: Connection, path: str) -> None:
    try:
        module = load(path)
    except BaseException as err:                 # SystemExit and KeyboardInterrupt too: they end only the import
        labrnn = isinstance(err, ImportError) and err.name == "labrnn"
        conn.send_bytes(frame("labrnn" if labrnn else _kind(err), describe(err, path, "importing the file")))
        return
    function = getattr(module, FUNCTION, None)
    if not callable(function):
        conn.send_bytes(frame("missing", "a " + type(function).__name__[:80] if function is not None else None))
        return
    code = getattr(function, "__code__", None)
    _flush()
    conn.send_bytes(frame("ready", code.co_firstlineno if code is not None and code.co_filename == path else None))
    while True:
        try:
            params, x, y, h0 = conn.recv()
        except EOFError:
            return
        blobs = []
        try:
            reply = frame("ok", encode(function(params, x, y, h0), blobs), blobs)
        except BaseException as err:
            reply = frame(_kind(err), describe(err, path, f"the call {FUNCTION}(params, x, y, h0)"))
        _flush()                    # what they printed is in the output file before labrnn reads on
        conn.send_bytes(reply)


def _flush() -> None:
    try:
        sys.stdout.flush()
    except Exception:           # their stdout replaced or past its size limit: their output, not labrnn's
        pass


def _confine_module():
    """confine.py beside this file, loaded by path (importing it as labrnn.confine would load labrnn)."""
    spec = importlib.util.spec_from_file_location("_labrnn_confine", os.path.join(os.path.dirname(__file__),
                                                                                  "confine.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C is labrnn's to handle: it stops at the next chunk
    fd, trace, parent = map(int, sys.argv[1:4])
    faulthandler.enable(os.fdopen(trace, "w"), all_threads=True)
    faulthandler.register(signal.SIGUSR1, os.fdopen(trace, "w", closefd=False), all_threads=True)
    conn = Connection(fd)
    orders = conn.recv()            # {"path", "numpy", "limits", "strict", "confine"}
    confine = _confine_module()
    if orders["numpy"] not in sys.path:      # python -I leaves out a user site or PYTHONPATH, where numpy may be
        sys.path.append(orders["numpy"])
    import numpy                    # noqa: F401  loaded now, so its libraries are read before Landlock
    report = {"enforced": [], "missing": {"all": "confinement was turned off"}}
    if orders["confine"]:
        try:
            report = confine.confine(os.path.dirname(orders["path"]), confine.needed(), parent=parent,
                                     **orders["limits"])
        except OSError as err:
            conn.send_bytes(frame("unconfined", str(err)[:MAX_TEXT]))
            return
    conn.send_bytes(frame("confined", report))
    if report["missing"] and orders["strict"]:
        return
    assert "labrnn" not in sys.modules
    sys.meta_path.insert(0, NoLabrnn())
    serve(conn, orders["path"])
    conn.close()


if __name__ == "__main__":
    main()
