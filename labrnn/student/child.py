"""The process that runs a student's model file: ``python -I labrnn/student/child.py FD TRACE PARENT``, started by
`labrnn.student.sandbox`.

A standalone program, not a module of the package: labrnn is never loaded here, so their code cannot reach
labrnn's own function or objects (a file that imports labrnn is told so, see `NoLabrnn`).  It loads
`confine.py` beside it by path and numpy, then confines itself (`confine.confine`) while still
single-threaded, and only then runs their file: its own copy in the scratch directory that is its cwd.

The socket on file descriptor FD carries messages, each an 8-byte little-endian length and that many bytes
(`write`, `read`), and nothing of Python's: no pickle either way.  Its orders (JSON), then requests
``(params, x, y, h0)`` (`request`: a JSON header naming each array, then their raw bytes, read straight into
fresh arrays; a request with a nudge asks for the gradient check's calls, `nudged`); it answers each with a frame that holds data only: a 4-byte little-endian length, a JSON header,
then the raw bytes of the arrays it names (`frame`), written from the arrays themselves (`os.writev`: no copy).
labrnn's side (`labrnn.student.sandbox`) reads and writes the same format (`LENGTH`, `HEADER`) with deadlines of
its own.  On a crash, or on SIGUSR1 (labrnn sends
it to a call past its time limit), faulthandler writes the Python stack to the file TRACE.
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

FUNCTION = "loss_and_grads"
NUMERIC = "biuf"                # the dtype kinds an array may have to cross the pipe
MAX_TEXT = 4096                 # an exception message or a type's name is cut here
LENGTH = struct.Struct("<Q")    # the length of every message on the socket, before its bytes
HEADER = struct.Struct("<I")    # the length of a frame's or a request's JSON header


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
            blobs.append(array)             # sent from where it is (`write`), not copied
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


def frame(kind: str, detail=None, blobs: tuple = ()) -> list:
    """A reply as the pieces `write` sends: its length-prefixed JSON header {"kind", "detail"}, then the arrays'
    raw bytes."""
    header = json.dumps({"kind": kind, "detail": detail}).encode()
    return [HEADER.pack(len(header)), header, *blobs]


def write(fd: int, pieces) -> None:
    """One message: the pieces' total length (LENGTH), then the pieces, gathered by the kernel (`os.writev`)."""
    views = [v.cast("B") for v in map(memoryview, pieces) if v.nbytes]
    views.insert(0, memoryview(LENGTH.pack(sum(len(v) for v in views))))
    while views:
        done = os.writev(fd, views[:1024])          # IOV_MAX
        while views and done >= len(views[0]):
            done -= len(views.pop(0))
        if views:
            views[0] = views[0][done:]


def read_into(fd: int, buffers) -> None:
    """Fill `buffers` (writable, contiguous) from the socket; EOFError when it closes first."""
    views = [v.cast("B") for v in map(memoryview, buffers) if v.nbytes]
    while views:
        done = os.readv(fd, views)
        if done == 0:
            raise EOFError
        while views and done >= len(views[0]):
            done -= len(views.pop(0))
        if views:
            views[0] = views[0][done:]


def read(fd: int) -> bytearray:
    """The next message's bytes."""
    length = bytearray(LENGTH.size)
    read_into(fd, [length])
    data = bytearray(LENGTH.unpack(length)[0])
    read_into(fd, [data])
    return data


def request(fd: int):
    """The next call's (params, x, y, h0) and its nudge (None, or [name, h]: see `nudged`), each array read
    straight into a fresh one of its own (as labrnn had them: their function may change them in place); EOFError
    when labrnn has closed the socket."""
    import numpy as np
    length, size = bytearray(LENGTH.size), bytearray(HEADER.size)
    read_into(fd, [length, size])
    header = bytearray(HEADER.unpack(size)[0])
    read_into(fd, [header])
    names = json.loads(header)          # {"params": [[key, dtype, shape], ...], "x": [dtype, shape], ...}
    nudge = names.pop("nudge", None)
    params = {key: np.empty(shape, dtype) for key, dtype, shape in names.pop("params")}
    rest = {key: np.empty(shape, dtype) for key, (dtype, shape) in names.items()}
    read_into(fd, [*params.values(), *rest.values()])
    return params, rest["x"], rest["y"], rest["h0"], nudge


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


def serve(fd: int, path: str) -> None:
    try:
        module = load(path)
    except BaseException as err:                 # SystemExit and KeyboardInterrupt too: they end only the import
        labrnn = isinstance(err, ImportError) and err.name == "labrnn"
        write(fd, frame("labrnn" if labrnn else _kind(err), describe(err, path, "importing the file")))
        return
    function = getattr(module, FUNCTION, None)
    if not callable(function):
        write(fd, frame("missing", "a " + type(function).__name__[:80] if function is not None else None))
        return
    code = getattr(function, "__code__", None)
    _flush()
    write(fd, frame("ready", code.co_firstlineno if code is not None and code.co_filename == path else None))
    while True:
        try:
            params, x, y, h0, nudge = request(fd)
        except EOFError:
            return
        if nudge is None:
            write(fd, answer(function, path, params, x, y, h0, whole=True)[1])
        else:
            nudged(fd, function, path, params, x, y, h0, *nudge)


def answer(function, path: str, params, x, y, h0, whole: bool) -> tuple[str, list]:
    """Their call's reply and its kind: all it returned (`whole`), or only the loss of a (loss, grads, h_last)
    sequence, as kind "loss"; what they printed is in the output file before labrnn reads on."""
    blobs = []
    try:
        result = function(params, x, y, h0)
        kind = "loss" if not whole and isinstance(result, (tuple, list)) and len(result) == 3 else "ok"
        reply = frame(kind, encode(result[0] if kind == "loss" else result, blobs), blobs)
    except BaseException as err:
        kind = _kind(err)
        reply = frame(kind, describe(err, path, f"the call {FUNCTION}(params, x, y, h0)"))
    _flush()
    return kind, reply


def nudged(fd: int, function, path: str, params, x, y, h0, name: str, h: float) -> None:
    """The gradient check's calls: each entry of params[name] moved by +h, then by -h, each call on fresh copies
    of every input.  One reply per call, sent as soon as it is made, with only its loss (the centered
    differences need no more); the first that is anything else ends them."""
    flat = params[name].reshape(-1)
    for i in range(flat.size):
        for step in (h, -h):
            moved = {k: v.copy() for k, v in params.items()}
            moved[name].reshape(-1)[i] = flat[i] + step
            kind, reply = answer(function, path, moved, x.copy(), y.copy(), h0.copy(), whole=False)
            write(fd, reply)
            if kind != "loss":
                return


def _flush() -> None:
    try:
        sys.stdout.flush()
    except Exception:           # their stdout replaced or past its size limit: their output, not labrnn's
        pass


def _confine_module():
    """confine.py beside this file, loaded by path (importing it as labrnn.student.confine would load labrnn)."""
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
    orders = json.loads(read(fd))   # {"path", "numpy", "limits", "strict", "confine"}
    confine = _confine_module()
    if orders["numpy"] not in sys.path:      # python -I leaves out a user site or PYTHONPATH, where numpy may be
        sys.path.append(orders["numpy"])
    import numpy  # noqa: F401  loaded now, so its libraries are read before Landlock
    report = {"enforced": [], "missing": {"all": "confinement was turned off"}}
    if orders["confine"]:
        try:
            report = confine.confine(os.path.dirname(orders["path"]), confine.needed(), parent=parent,
                                     **orders["limits"])
        except OSError as err:
            write(fd, frame("unconfined", str(err)[:MAX_TEXT]))
            return
    write(fd, frame("confined", report))
    if report["missing"] and orders["strict"]:
        return
    assert "labrnn" not in sys.modules
    sys.meta_path.insert(0, NoLabrnn())
    serve(fd, orders["path"])
    os.close(fd)


if __name__ == "__main__":
    main()
