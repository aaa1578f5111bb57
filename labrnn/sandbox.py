"""A student's `loss_and_grads`, called like `labrnn.model.loss_and_grads` but run in a child process.

labrnn's own process never imports their file: it reads the bytes once (their sha256 goes into the cache key
and the run name), hands exactly those bytes to `labrnn.child`, and sends every call's (params, x, y, h0)
over a pipe.  Each reply is checked here before labrnn uses it: a finite real loss, grads with exactly W, U,
V, b, c as float arrays of the parameters' shapes, h_last of shape (m,).  Whatever goes wrong, an exception
of theirs, a wrong return, a call slower than its limit, a crash or a `sys.exit`, becomes one `ModelError`
naming their file and line, and only the child ends.

The time limits are set here: START_SECONDS to import their file, and per call CALL_SECONDS plus time for
the network's size (`call_limit`).
"""
from __future__ import annotations

import hashlib
import math
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from .corpus import shown
from .model import NAMES, init_params

START_SECONDS = 60.0            # importing their file, numpy and whatever they import
CALL_SECONDS = 10.0             # one call at the lab's sizes takes milliseconds, even as a per-step Python loop
MULTIPLY_ADDS_PER_SECOND = 1e7  # the slowest honest rate assumed for larger networks (see call_limit)
MAX_SOURCE = 1 << 20            # a model file is code: a megabyte is plenty


class ModelError(Exception):
    """Their model file failed: the message names the file and line (for an exception, their traceback)."""


@dataclass(frozen=True)
class ModelFile:
    """The bytes of a model file as read once: what is hashed is what runs."""
    path: str
    sha256: str
    source: bytes = field(repr=False)

    @property
    def name(self) -> str:
        return Path(self.path).name

    def info(self) -> dict:
        """What run.json and the report say of it."""
        return {"name": self.name, "path": self.path, "sha256": self.sha256}


def read_model(path: str) -> ModelFile:
    """The model file at `path`, or a ModelError saying in one line why it cannot be read."""
    path = str(Path(path).expanduser().absolute())
    try:
        with open(path, "rb") as fh:
            source = fh.read(MAX_SOURCE + 1)
    except OSError as err:
        raise ModelError(f"{shown(path)}: cannot read the model file ({err.strerror or err})") from None
    if len(source) > MAX_SOURCE:
        raise ModelError(f"{shown(path)}: the model file is larger than {MAX_SOURCE >> 20} MiB; it should hold "
                         "loss_and_grads(params, x, y, h0) and what it needs")
    return ModelFile(path, hashlib.sha256(source).hexdigest(), source)


def call_limit(m: int, K: int, seq_length: int) -> float:
    """Seconds one call may take: CALL_SECONDS, plus the multiply-adds of a forward and a backward pass
    (about 3 x seq_length x (m^2 + 2 m K)) at MULTIPLY_ADDS_PER_SECOND, for networks far beyond the lab's."""
    return CALL_SECONDS + 3 * seq_length * (m * m + 2 * m * K) / MULTIPLY_ADDS_PER_SECOND


class _BuiltinsOnly(pickle.Unpickler):
    """The child's replies hold built-in types only; any class in one is refused, never imported."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"a reply may not name {module}.{name}")


def _loads(data: bytes):
    import io
    return _BuiltinsOnly(io.BytesIO(data)).load()


def _what(value) -> str:
    """How a reply's value is named in a message: `a str`, `an array of int64 with shape (5,)`."""
    kind = value[0]
    if kind == "array":
        return f"a {value[1]} of {np.dtype(value[2]).name} with shape {tuple(value[3])}"
    if kind == "sequence":
        return f"a {value[1]} of {value[3]} item{'s' * (value[3] != 1)}"
    if kind == "none":
        return "None"
    return f"a {value[1]}"


def _shape(shape) -> str:
    return str(tuple(shape))


class Sandbox:
    """Their loss_and_grads behind a pipe: ``sandbox(params, x, y, h0)`` returns (loss, grads, h_last) checked,
    in float64, or raises ModelError; after one error the child is gone and every later call raises it again."""

    def __init__(self, model: ModelFile):
        self.model = model
        self.line: int | None = None            # where their loss_and_grads is defined
        self._failed: ModelError | None = None
        self._proc = self._conn = None

    def __enter__(self) -> "Sandbox":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def info(self) -> dict:
        return self.model.info()

    def where(self, line: int | None = None) -> str:
        """`file:line` for a message; their function's definition when no other line is known."""
        line = line or self.line
        return f"{shown(self.model.path)}:{line}" if line else shown(self.model.path)

    # -- the child ------------------------------------------------------------------------------------------
    def start(self) -> "Sandbox":
        """Start the child and import their file in it; a ModelError when it does not define loss_and_grads."""
        ours, theirs = socket.socketpair()
        self._trace = tempfile.TemporaryFile()        # where the child's faulthandler writes its stack
        fds = (theirs.fileno(), self._trace.fileno())
        with theirs:
            self._proc = subprocess.Popen([sys.executable, "-m", "labrnn.child", *map(str, fds)], pass_fds=fds,
                                          stdin=subprocess.DEVNULL,
                                          stdout=2)        # their prints go to stderr, labrnn's stdout stays its own
        self._conn = Connection(ours.detach())
        weakref.finalize(self, _stop, self._proc, self._conn)
        weakref.finalize(self, self._trace.close)
        self._conn.send((self.model.path, self.model.source))
        kind, detail = self._receive(START_SECONDS, "the import", 16 << 20,
                                     "labrnn.sandbox.START_SECONDS")
        if kind == "error":
            line, text = detail
            self._fail(f"{self.where(line)}: {text}")
        if kind == "missing":
            found = f" (loss_and_grads is {detail}, not a function)" if detail else ""
            self._fail(f"{self.where(1)}: defines no function loss_and_grads(params, x, y, h0){found}; "
                       "`labrnn new-model FILE` writes a file to start from")
        self.line = detail
        return self

    def close(self) -> None:
        if self._proc is not None:
            _stop(self._proc, self._conn)

    def _fail(self, message: str):
        self._failed = ModelError(message)
        self.close()
        raise self._failed

    def _their_line(self) -> int | None:
        """The innermost line of their file in the stack the child's faulthandler wrote, if it wrote one."""
        dump = os.pread(self._trace.fileno(), 1 << 20, 0).decode("utf-8", "replace")
        lines = re.findall(rf'File "{re.escape(self.model.path)}", line (\d+)', dump)
        return int(lines[0]) if lines else None        # faulthandler lists the most recent call first

    def _receive(self, seconds: float, doing: str, most: int, limit_name: str):
        if not self._conn.poll(seconds):
            self._proc.send_signal(signal.SIGUSR1)     # where is it? faulthandler writes the stack
            for _ in range(20):
                if self._their_line() is not None:
                    break
                time.sleep(0.05)
            line = self._their_line()
            at = f" (it was at line {line})" if line else ""
            self._fail(f"{self.where(line)}: {doing} did not finish within {seconds:.1f} s{at}, so labrnn "
                       f"stopped the process running it (the limit is {limit_name})")
        try:
            data = self._conn.recv_bytes(most)
        except EOFError:
            code = self._proc.wait()
            how = (f"killed by signal {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals()
                   else f"exit code {code}")
            line = self._their_line()
            cause = "a crash in compiled code" if code < 0 else "os._exit, or a crash in compiled code"
            self._fail(f"{self.where(line)}: the process running it ended ({how}) during {doing}, without a "
                       f"Python exception to show ({cause})")
        except OSError:
            self._fail(f"{self.where()}: {doing} answered with more than {most >> 20} MiB")
        return _loads(data)

    # -- a call -----------------------------------------------------------------------------------------------
    def __call__(self, params, x, y, h0):
        if self._failed is not None:
            raise self._failed
        m, K = params["U"].shape
        seconds = call_limit(m, K, len(x))
        size = sum(params[k].nbytes for k in NAMES) + np.asarray(h0).nbytes
        try:
            self._conn.send((dict(params), np.asarray(x), np.asarray(y), np.asarray(h0)))
        except OSError:
            pass                        # the child is gone: _receive says how it ended
        kind, detail = self._receive(seconds, "the call loss_and_grads(params, x, y, h0)", 8 * size + (1 << 20),
                                     f"labrnn.sandbox.call_limit: CALL_SECONDS = {CALL_SECONDS:g} s plus "
                                     f"time for m = {m}, K = {K}, seq_length = {len(x)}")
        if kind == "error":
            line, text = detail
            self._fail(f"{self.where(line)}: {text}")
        try:
            return self._checked(detail, m, K)
        except ModelError as err:
            self._fail(str(err))

    def _checked(self, reply, m: int, K: int):
        """(loss, grads, h_last) from their reply, or the ModelError that says what is wrong with it."""
        def wrong(problem: str) -> ModelError:
            return ModelError(f"{self.where()}: loss_and_grads returned {problem}")

        if reply[0] != "sequence" or reply[3] != 3:
            raise wrong(f"{_what(reply)}; expected a tuple (loss, grads, h_last)")
        loss_, grads_, h_ = reply[2]
        if loss_[0] != "array" or np.dtype(loss_[2]).kind not in "iuf" or math.prod(loss_[3]) != 1:
            raise wrong(f"a loss that is {_what(loss_)}; expected a real number (a float)")
        loss = float(_array(loss_).reshape(()))
        if not math.isfinite(loss):
            raise wrong(f"the loss {loss}; expected a finite number")
        if grads_[0] != "mapping":
            raise wrong(f"grads that are {_what(grads_)}; expected a dict with the keys W, U, V, b, c")
        found = dict(grads_[2])
        missing, extra = [k for k in NAMES if k not in found], [k for k in found if k not in NAMES]
        if missing or extra:
            parts = ([f"without {', '.join(missing)}"] if missing else []) + \
                    ([f"with keys labrnn does not know: {', '.join(map(repr, extra))}"] if extra else [])
            raise wrong(f"grads {' and '.join(parts)}; expected exactly the keys W, U, V, b, c")
        dims = {"W": ("m", "m"), "U": ("m", "K"), "V": ("K", "m"), "b": ("m",), "c": ("K",)}
        size = {"m": m, "K": K}
        grads = {k: self._float_array(found[k], f"grads[{k!r}]", dims[k], size) for k in NAMES}
        return loss, grads, self._float_array(h_, "h_last", ("m",), size)

    def _float_array(self, value, name: str, dims: tuple[str, ...], size: dict) -> np.ndarray:
        expected = tuple(size[d] for d in dims)
        shown = f"{_shape(expected)} = ({', '.join(dims)}{',' * (len(dims) == 1)})"

        def wrong(problem: str) -> ModelError:
            return ModelError(f"{self.where()}: loss_and_grads returned {name} {problem}")

        if value[0] != "array" or not value[3]:
            raise wrong(f"as {_what(value)}; expected a numpy array of floats of shape {shown}")
        if np.dtype(value[2]).kind != "f":
            raise wrong(f"as an array of {np.dtype(value[2]).name}; expected floats (float64)")
        shape = tuple(value[3])
        if shape != expected:
            hint = ""
            if len(shape) == 2 and shape == expected[::-1] and shape[0] != shape[1]:
                hint = ": it looks transposed"
            elif math.prod(shape) == math.prod(expected) and tuple(d for d in shape if d != 1) == \
                    tuple(d for d in expected if d != 1):
                hint = ": the same entries in another shape (a column vector?); return them as shape " \
                       f"{_shape(expected)}"
            raise ModelError(f"{self.where()}: loss_and_grads returned {name} with shape {_shape(shape)}; "
                             f"expected {shown}{hint}")
        array = _array(value).astype(np.float64)
        bad = ~np.isfinite(array)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            what = "NaN" if np.isnan(array[first]) else "inf"
            where = ", ".join(map(str, first))
            raise wrong(f"holding {what} ({int(bad.sum())} of {array.size} entries not finite, the first at "
                        f"[{where}])")
        return array


def _array(value) -> np.ndarray:
    _, _, dtype, shape, data = value
    dtype = np.dtype(dtype)
    if dtype.kind not in "biufc":
        raise ModelError(f"a reply holds an array of {dtype}")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def _stop(proc: subprocess.Popen, conn: Connection) -> None:
    """Close the pipe (an idle child then ends by itself); kill a child that does not end within a second."""
    conn.close()
    try:
        proc.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def opened(settings, corpus):
    """The sandbox of settings.model, started and checked with one call on the lab's starting point (its
    initial parameters, the corpus's first seq_length characters, h0 = 0), so a broken file is refused before
    anything is written; None without a model."""
    if settings.model is None:
        yield None
        return
    with Sandbox(read_model(settings.model)) as sandbox:
        K, m, T = corpus.K, settings.m, settings.seq_length
        params = init_params(K, m, settings.sigma, np.random.default_rng(settings.seed))
        sandbox(params, corpus.data[:T].astype(np.int64), corpus.data[1:T + 1].astype(np.int64), np.zeros(m))
        yield sandbox
