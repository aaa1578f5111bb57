"""A student's `loss_and_grads`, called like `labrnn.rnn.model.loss_and_grads` but run in a confined child process.

labrnn's own process never imports their file: it reads the bytes once (their sha256 goes into the cache key
and the run name), copies exactly those bytes alone into a fresh scratch directory, and starts
`labrnn/student/child.py` there (`python -I`, a minimal environment, its own session), which confines itself
(`labrnn.student.confine`) before it runs them.  Every call's (params, x, y, h0) goes over a socket as raw arrays after
a JSON header (`labrnn.student.child` owns the format of the messages both ways), read by a deadline and bounded in
size; each reply is data (`decode`: a JSON header and raw little-endian arrays, never a pickle) and is checked here
before labrnn uses it: a finite real loss, grads with exactly W, U, V, b, c as float arrays of the parameters' shapes,
h_last of shape (m,).  The gradient check's calls (`nudged`) go as one request, each entry of a parameter moved by
±h in the child, and come back one reply per call holding only the loss, each within a call's time limit.
Whatever goes wrong, an exception of theirs, a wrong or unreadable reply, a call slower than its
limit, a crash, a `sys.exit` or a limit of `Limits`, becomes one `ModelError` naming their file and line
(escaped: `printable`), and only the child ends.  What they print is kept in a file, never shown on the
terminal (`Sandbox.output`).

The time limits are set here: START_SECONDS to import their file, per call CALL_SECONDS plus time for the
network's size (`call_limit`), and a wall-clock budget for the whole file (`Limits`).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labrnn import scratch
from labrnn.rnn.corpus import shown
from labrnn.rnn.engines import ModelFailed
from labrnn.rnn.model import NAMES, init_params
from labrnn.student import confine
from labrnn.student.child import HEADER, LENGTH

START_SECONDS = 60.0            # importing their file, numpy and whatever they import
CALL_SECONDS = 10.0             # one call at the lab's sizes takes milliseconds, even as a per-step Python loop
MULTIPLY_ADDS_PER_SECOND = 1e7  # the slowest honest rate assumed for larger networks (see call_limit)
MAX_SOURCE = 1 << 20            # a model file is code: a megabyte is plenty
MEMORY = 2 << 30                # address space: numpy and the lab's network need a few hundred MiB
CPU_SECONDS, STEP_SECONDS = 300, 0.02   # CPU time: the import, checks and diagnosis, then per training step
OUTPUT_SHOWN = 64 << 10         # what the report shows of their stdout and stderr
OUTPUT_KEPT = 16 << 20          # what they may write to any file (past it writes fail with EFBIG)
OPEN_FILES = 64
CHILD = str(Path(__file__).with_name("child.py"))
THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
           "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
ENVIRONMENT = {"LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8", **{v: "1" for v in THREADS}}   # BLAS: one thread
DTYPES = {f"{e}{k}{n}" for e in "<|" for k, sizes in (("f", "248"), ("i", "1248"), ("u", "1248"), ("b", "1"))
          for n in sizes}           # the dtypes a reply may hold: little-endian numbers, as numpy spells them
_warned: set[str] = set()


class ModelError(ModelFailed):
    """Their model file failed: the message names the file and line (for an exception, their traceback)."""


@dataclass(frozen=True)
class ModelFile:
    """The bytes of a model file as read once: what is hashed is what runs. A file that cannot run (unreadable,
    too large) still has a name and a hash, so that a class's sweep plans it as its own row; `problem` says
    why, and its sandbox refuses to start with that line."""
    path: str
    sha256: str
    source: bytes = field(repr=False)
    problem: str | None = None

    @property
    def name(self) -> str:
        return Path(self.path).name

    def info(self) -> dict:
        """What run.json and the report say of it."""
        return {"name": self.name, "path": self.path, "sha256": self.sha256}


def read_model(path: str | None) -> ModelFile | None:
    """The model file at `path`, read once: the one value the cache key, the run name, the sandbox and the
    report take (None for labrnn's own model).  A file that cannot be read carries its `problem`."""
    if path is None:
        return None
    path = str(Path(path).expanduser().absolute())
    try:
        with open(path, "rb") as fh:
            source = fh.read(MAX_SOURCE + 1)
    except OSError as err:
        source, problem = b"", f"{shown(path)}: cannot read the model file ({err.strerror or err})"
    else:
        problem = None if len(source) <= MAX_SOURCE else (
            f"{shown(path)}: the model file is larger than {MAX_SOURCE >> 20} MiB; it should hold "
            "loss_and_grads(params, x, y, h0) and what it needs")
    return ModelFile(path, hashlib.sha256(source).hexdigest(), source, problem)


def call_limit(m: int, K: int, seq_length: int) -> float:
    """Seconds one call may take: CALL_SECONDS, plus the multiply-adds of a forward and a backward pass
    (about 3 x seq_length x (m^2 + 2 m K)) at MULTIPLY_ADDS_PER_SECOND, for networks far beyond the lab's."""
    return CALL_SECONDS + 3 * seq_length * (m * m + 2 * m * K) / MULTIPLY_ADDS_PER_SECOND


@dataclass(frozen=True)
class Limits:
    """What one student's file may use: address space, CPU seconds, wall-clock seconds for the whole file
    (every call of a run), bytes per file written, open files."""
    memory: int = MEMORY
    cpu: int = CPU_SECONDS
    wall: float = 2.0 * CPU_SECONDS
    file_size: int = OUTPUT_KEPT
    open_files: int = OPEN_FILES

    @classmethod
    def of(cls, steps: int = 0, scale: float = 1.0) -> "Limits":
        """The limits for a run of `steps` training steps, times `scale` (the LIMITS setting)."""
        cpu = int(scale * (CPU_SECONDS + STEP_SECONDS * steps))
        return cls(int(scale * MEMORY), cpu, 2.0 * cpu)

    def child(self) -> dict:
        """What the child applies to itself (`labrnn.student.confine.confine`)."""
        return {"memory": self.memory, "cpu": self.cpu, "file_size": self.file_size, "open_files": self.open_files}


def printable(text: str, most: int = OUTPUT_SHOWN) -> str:
    """Text of theirs made safe to show anywhere: control characters (terminal escapes, bells, carriage
    returns) as visible escapes, newlines and tabs kept, cut at `most` characters (escapes counted)."""
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]",
                  lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                  text[:most])[:most]


def _message(text) -> str:
    """An exception message of theirs as labrnn shows it: printable, cut, absolute paths by file name only."""
    return printable(re.sub(r"(?<![\w.])/(?:[^/\s'\"]+/)+([^/\s'\"]+)", r"\1", str(text)), 8 << 10)


def decode(data: bytes):
    """A reply of the child: (kind, detail) from its JSON header, each array node ["array", type, dtype, shape]
    of detail given its raw bytes from after the header.  ValueError for anything else."""
    if len(data) < 4:
        raise ValueError("shorter than its header")
    size = struct.unpack_from("<I", data)[0]
    if size > min(len(data) - 4, 1 << 20):
        raise ValueError("a header longer than the reply")
    try:
        header = json.loads(data[4:4 + size])
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"a header that is not JSON: {err}") from None
    if not isinstance(header, dict) or not isinstance(header.get("kind"), str):
        raise ValueError("a header without its kind")
    arrays = memoryview(data)[4 + size:]
    offset = 0

    def node(value, depth: int):
        nonlocal offset
        if depth > 3 or not isinstance(value, list) or not value or not isinstance(value[0], str):
            return ("other", type(value).__name__)
        if value[0] == "array":
            if len(value) != 4 or value[2] not in DTYPES or not isinstance(value[3], list) or len(value[3]) > 4 \
                    or not all(isinstance(d, int) and 0 <= d < 1 << 31 for d in value[3]):
                raise ValueError("an array that is not a little-endian numeric array of at most 4 dimensions")
            nbytes = math.prod(value[3]) * int(value[2][2:])
            if offset + nbytes > len(arrays):
                raise ValueError("an array longer than the reply")
            blob, offset = arrays[offset:offset + nbytes], offset + nbytes      # a view of the reply, no copy
            return ("array", printable(str(value[1]), 80), value[2], tuple(value[3]), blob)
        if value[0] == "mapping" and len(value) == 3 and isinstance(value[2], list) and len(value[2]) <= 20:
            return ("mapping", printable(str(value[1]), 80),
                    [(printable(str(k), 40), node(v, depth + 1)) for k, v in value[2]])
        if value[0] == "sequence" and len(value) == 4 and isinstance(value[2], list) and len(value[2]) <= 10 \
                and type(value[3]) is int:
            return ("sequence", printable(str(value[1]), 80), [node(v, depth + 1) for v in value[2]], value[3])
        if value[0] == "none":
            return ("none",)
        return ("other", printable(str(value[1:2] and value[1]), 80))

    kind, detail = header["kind"], header.get("detail")
    if kind in ("ok", "loss"):
        try:
            detail = node(detail, 0)
        except (TypeError, ValueError) as err:
            raise ValueError(str(err) or "a malformed value") from None
    elif not _fits(kind, detail):
        raise ValueError(f"a {printable(kind, 40)!r} message that does not hold what it should")
    if offset != len(arrays):
        raise ValueError("bytes after its last array")
    return kind, detail


def _fits(kind: str, detail) -> bool:
    """Whether a message other than a call's reply holds what its kind says."""
    def line(value) -> bool:
        return value is None or (type(value) is int and 0 < value < 1 << 31)
    if kind in ("error", "memory", "labrnn"):
        return isinstance(detail, list) and len(detail) == 2 and line(detail[0]) and isinstance(detail[1], str)
    return {"ready": lambda: line(detail), "missing": lambda: detail is None or isinstance(detail, str),
            "confined": lambda: isinstance(detail, dict) and isinstance(detail.get("enforced"), list)
            and isinstance(detail.get("missing"), dict),
            "unconfined": lambda: isinstance(detail, str)}.get(kind, lambda: False)()


def _warn_once(line: str) -> None:
    """One warning line on stderr per process, however many files run."""
    if line not in _warned:
        _warned.add(line)
        print(line, file=sys.stderr)


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
    """Their loss_and_grads behind a socket: ``sandbox(params, x, y, h0)`` returns (loss, grads, h_last) checked,
    in float64, or raises ModelError (`send`, then `reply`: the same in two halves); after one error the child is gone
    and every later call raises it again. `limits` bound the child; `strict` refuses to run it without every layer of
    `labrnn.student.confine`; `confined` False runs it unconfined (the test suite's comparison only)."""

    def __init__(self, model_file: ModelFile, limits: Limits | None = None, strict: bool = False,
                 confined: bool = True):
        self.model_file, self.limits, self.strict, self.confined = model_file, limits or Limits.of(), strict, confined
        self.line: int | None = None            # where their loss_and_grads is defined
        self.confinement: dict = {}             # what the child reported in force
        self._failed: ModelError | None = None
        self._proc = self._sock = self._scratch = self._out = None
        self._call: tuple | None = None         # the call sent and not yet answered: (m, K, seq_length, bytes)
        self._printed = {"text": "", "bytes": 0, "cut": False}
        self._killed = False

    def __enter__(self) -> "Sandbox":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def info(self) -> dict:
        """What run.json says of the file: its name and hash, the protections in force, its output."""
        return {**self.model_file.info(), "confinement": self.confinement, "output": self.output()}

    def output(self) -> dict:
        """What their file printed (stdout and stderr together), its first OUTPUT_SHOWN bytes escaped."""
        if self._out is None or self._out.closed:
            return self._printed
        size = os.fstat(self._out.fileno()).st_size
        text = os.pread(self._out.fileno(), OUTPUT_SHOWN, 0).decode("utf-8", "replace")
        self._printed = {"text": printable(text), "bytes": size, "cut": size > OUTPUT_SHOWN}
        return self._printed

    def where(self, line: int | None = None) -> str:
        """`file:line` for a message; their function's definition when no other line is known."""
        line = line or self.line
        return f"{shown(self.model_file.path)}:{line}" if line else shown(self.model_file.path)

    # -- the child ------------------------------------------------------------------------------------------
    def start(self) -> "Sandbox":
        """Start the child, confine it and import their file in it; a ModelError when it cannot be confined as
        asked or does not define loss_and_grads."""
        self._lacks = confine.available()
        if self.confined and self.strict and self._lacks:
            raise ModelError(f"{self.where()}: not run: SANDBOX=strict, and this system lacks "
                             f"{'; '.join(f'{k} ({why})' for k, why in self._lacks.items())}")
        self._started = time.monotonic()
        copy = self._spawn()
        self._copy = str(copy)
        self._send([json.dumps({"path": self._copy, "numpy": str(Path(np.__file__).parent.parent),
                                "strict": self.strict, "confine": self.confined,
                                "limits": self.limits.child()}).encode()],
                   START_SECONDS, "starting the child", "labrnn.student.sandbox.START_SECONDS")
        self._confined()
        kind, detail = self._receive(START_SECONDS, "the import", "labrnn.student.sandbox.START_SECONDS")
        self._raised(kind, detail, "the import")
        if kind == "labrnn":
            self._fail(f"{self.where(detail[0])}: uses labrnn's implementation: it imports labrnn, so it is not "
                       "graded as your own (loss_and_grads must compute everything itself)")
        if kind == "missing":
            found = f" (loss_and_grads is {detail}, not a function)" if detail else ""
            self._fail(f"{self.where(1)}: defines no function loss_and_grads(params, x, y, h0){found}; "
                       "`labrnn new-model FILE` writes a file to start from")
        if kind != "ready":
            self._fail(f"{self.where()}: the import answered {printable(kind, 40)!r}, which is no reply of "
                       "labrnn's protocol")
        self.line = detail
        return self

    def _spawn(self) -> Path:
        """The child started in a fresh scratch directory holding only their file's copy (its path, returned);
        the directory is removed again when the child cannot be started."""
        self._scratch = ExitStack()     # a labrnn.scratch directory: its lock outlives no process of labrnn's
        work = self._scratch.enter_context(scratch.directory("labrnn-child-")) / "work"
        name = self.model_file.name
        copy = work / (name if name.endswith(".py") else "model.py")
        try:
            work.mkdir()                # theirs to write; the directory's lock beside it is out of their reach
            copy.write_bytes(self.model_file.source)       # the bytes hashed, not the path again
            ours, theirs = socket.socketpair()
            self._trace = tempfile.TemporaryFile()        # where the child's faulthandler writes its stack
            self._out = tempfile.TemporaryFile()          # their stdout and stderr, never the terminal
            fds = (theirs.fileno(), self._trace.fileno())
            with theirs:
                self._proc = subprocess.Popen([sys.executable, "-I", CHILD, *map(str, fds), str(os.getpid())],
                                              pass_fds=fds, stdin=subprocess.DEVNULL, stdout=self._out,
                                              stderr=self._out, cwd=work, env=ENVIRONMENT,
                                              start_new_session=True)
        except BaseException:
            _remove(work, self._scratch)
            raise
        self._sock = ours
        self._stop = weakref.finalize(self, _stop, self._proc, self._sock, work, self._scratch)
        weakref.finalize(self, self._trace.close)
        if self._killed:                # killed while it was being started
            self.kill()
        return copy

    def _raised(self, kind: str, detail, doing: str) -> None:
        """The ModelError for an exception of theirs (MemoryError: the memory limit), if the reply is one."""
        if kind == "memory":
            line, text = detail
            self._fail(f"{self.where(line)}: exceeded {self.limits.memory / 2**30:g} GiB of memory "
                       f"during {doing} (LIMITS multiplies it)\n{_message(text)}")
        if kind == "error":
            line, text = detail
            self._fail(f"{self.where(line)}: {_message(text)}")

    def _confined(self) -> None:
        """The child's report of its confinement, or the ModelError that says it could not be confined."""
        kind, detail = self._receive(START_SECONDS, "confining the child", "labrnn.student.sandbox.START_SECONDS")
        if kind == "unconfined":
            self._fail(f"{self.where()}: not run: labrnn could not confine the process for it ({detail})")
        if kind != "confined" or not isinstance(detail, dict):
            self._fail(f"{self.where()}: not run: the child answered {kind!r} before its confinement")
        self.confinement = {"enforced": [k for k in detail["enforced"] if k in confine.LAYERS],
                            "missing": {**self._lacks, **{printable(str(k), 40): printable(str(v), 200)
                                                          for k, v in list(detail["missing"].items())[:10]}}}
        missing = self.confinement["missing"] if self.confined else {}
        if missing and self.strict:
            self._fail(f"{self.where()}: not run: SANDBOX=strict, and the process for it ran without "
                       f"{'; '.join(f'{k} ({why})' for k, why in missing.items())}")
        if missing:
            _warn_once(f"labrnn: warning: a student's file runs without {', '.join(missing)} "
                       f"({'; '.join(missing.values())}); SANDBOX=strict refuses to run that way")

    def kill(self) -> None:
        """From another thread (Ctrl-C while a class is checked): the child is killed now, so the import or call
        under way fails at once instead of at its time limit (START_SECONDS is a minute)."""
        self._killed = True
        if self._proc is not None and self._proc.poll() is None:      # not reaped: the pid is still the child's
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        if self._proc is not None:
            self._stop()                # once: the child ended (its output flushed), its scratch removed
            self.output()
            self._out.close()

    def _fail(self, message: str):
        self._failed = ModelError(message)
        self.close()
        raise self._failed

    def _their_line(self) -> int | None:
        """The innermost line of their file in the stack the child's faulthandler wrote, if it wrote one."""
        dump = os.pread(self._trace.fileno(), 1 << 20, 0).decode("utf-8", "replace")
        lines = re.findall(rf'File "{re.escape(self._copy)}", line (\d+)', dump)
        return int(lines[0]) if lines else None        # faulthandler lists the most recent call first

    def _budget(self, seconds: float, limit_name: str) -> tuple[float, str]:
        """`seconds`, or what is left of the file's wall-clock budget when that is less, with the limit's name."""
        left = self.limits.wall - (time.monotonic() - self._started)
        if left < seconds:
            return max(left, 0.0), f"its wall-clock budget of {self.limits.wall:,.0f} s (LIMITS multiplies it)"
        return seconds, limit_name

    def _send(self, pieces: list, seconds: float, doing: str, limit_name: str) -> None:
        """One message to the child (its LENGTH, then the pieces); a child that stops reading it is stopped
        when the limit passes.  Nothing when the child is gone: its reply's absence says how it ended."""
        seconds, limit_name = self._budget(seconds, limit_name)
        views = [v.cast("B") for v in map(memoryview, pieces) if v.nbytes]
        message = [LENGTH.pack(sum(map(len, views))), *views]
        try:
            self._sock.settimeout(seconds)
            sent = self._sock.sendmsg(message)
            if sent < sum(map(len, message)):           # larger than the socket's buffer
                self._sock.sendall(memoryview(b"".join(message))[sent:])
        except (TimeoutError, BlockingIOError):
            self._timed_out(seconds, doing, limit_name)
        except OSError:
            pass

    def _receive(self, seconds: float, doing: str, limit_name: str, most: int = 1 << 20):
        """The child's next reply as (kind, detail) with its arrays decoded, or a ModelError saying why none
        came: the call's time limit or the file's wall-clock budget passed, the child ended, or the reply is
        not one labrnn can read (more than `most` bytes, or not `decode`'s format)."""
        seconds, limit_name = self._budget(seconds, limit_name)
        deadline = time.monotonic() + seconds
        size = LENGTH.unpack(self._read(LENGTH.size, deadline, seconds, doing, limit_name))[0]
        if size > most:
            self._fail(f"{self.where()}: {doing} answered with a reply labrnn cannot read (one of {size:,} bytes, "
                       f"more than the {most:,} it may be); the protocol between labrnn and the process running the "
                       "file was broken")
        data = self._read(size, deadline, seconds, doing, limit_name)
        try:
            return decode(data)
        except ValueError as err:
            self._fail(f"{self.where()}: {doing} answered with a reply labrnn cannot read ({err}); the "
                       "protocol between labrnn and the process running the file was broken")

    def _read(self, size: int, deadline: float, seconds: float, doing: str, limit_name: str) -> bytearray:
        """`size` bytes from the child, in a buffer of labrnn's own, by `deadline`."""
        data = bytearray(size)
        view, got = memoryview(data), 0
        while got < size:
            try:
                self._sock.settimeout(max(deadline - time.monotonic(), 0.0))
                n = self._sock.recv_into(view[got:])
            except (TimeoutError, BlockingIOError):
                self._timed_out(seconds, doing, limit_name)
            except OSError:
                n = 0
            if n == 0:
                self._ended(doing)
            got += n
        return data

    def _timed_out(self, seconds: float, doing: str, limit_name: str):
        self._proc.send_signal(signal.SIGUSR1)     # where is it? faulthandler writes the stack
        for _ in range(20):
            if self._their_line() is not None:
                break
            time.sleep(0.05)
        line = self._their_line()
        at = f" (it was at line {line})" if line else ""
        self._fail(f"{self.where(line)}: {doing} did not finish within {seconds:.1f} s{at}, so labrnn "
                   f"stopped the process running it (the limit is {limit_name})")

    def _ended(self, doing: str):
        code = self._proc.wait()
        line = self._their_line()
        if code == -signal.SIGXCPU or (code == -signal.SIGKILL and
                                       time.monotonic() - self._started >= self.limits.cpu):
            self._fail(f"{self.where(line)}: exceeded its {self.limits.cpu:,} s of CPU time during "
                       f"{doing} (LIMITS multiplies it)")
        how = (f"killed by signal {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals()
               else f"exit code {code}")
        cause = "a crash in compiled code" if code < 0 else "os._exit, or a crash in compiled code"
        self._fail(f"{self.where(line)}: the process running it ended ({how}) during {doing}, without a "
                   f"Python exception to show ({cause})")

    # -- a call -----------------------------------------------------------------------------------------------
    def __call__(self, params, x, y, h0):
        self.send(params, x, y, h0)
        return self.reply()

    def send(self, params, x, y, h0, nudge: list | None = None) -> None:
        """Start their call on (params, x, y, h0): the arrays go to the child as they are, after a JSON header
        naming them (`labrnn.student.child.request` reads it).  `reply` waits for its answer: labrnn works meanwhile.
        `nudge` ([name, h]) asks for the calls `nudged` reads instead."""
        if self._failed is not None:
            raise self._failed
        arrays = {k: np.ascontiguousarray(v) for k, v in params.items()}
        rest = {"x": np.ascontiguousarray(x), "y": np.ascontiguousarray(y), "h0": np.ascontiguousarray(h0)}
        header = json.dumps({"params": [[k, a.dtype.str, a.shape] for k, a in arrays.items()],
                             **{k: [a.dtype.str, a.shape] for k, a in rest.items()},
                             **({"nudge": nudge} if nudge is not None else {})}).encode()
        m, K = params["U"].shape
        self._call = (m, K, len(x), sum(params[k].nbytes for k in NAMES) + rest["h0"].nbytes)
        self._send([HEADER.pack(len(header)), header, *arrays.values(), *rest.values()],
                   *self._limit(*self._call[:3]))

    def reply(self):
        """Their answer to the call `send` started: (loss, grads, h_last), checked and labrnn's own copies."""
        if self._failed is not None:
            raise self._failed
        (m, K, T, size), self._call = self._call, None
        kind, detail = self._receive(*self._limit(m, K, T), 8 * size + (1 << 20))
        self._raised(kind, detail, "the call")
        if kind != "ok":
            self._fail(f"{self.where()}: the call answered {printable(str(kind), 40)!r}, which is no reply of "
                       "labrnn's protocol")
        try:
            return self._checked(detail, m, K)
        except ModelError as err:
            self._fail(str(err))

    def nudged(self, params, x, y, h0, name: str, h: float) -> tuple[np.ndarray, np.ndarray]:
        """Their loss with each entry of params[name] moved by +h, and by -h, as two arrays (up, down): what the
        gradient check's centered differences need, asked in one request instead of two per entry.  Each call's
        reply must come within a call's time limit of the one before, and a reply that is not a loss is judged
        as any call's is."""
        if name not in NAMES:
            raise ValueError(f"no parameter {name!r}")
        self.send(params, x, y, h0, nudge=[name, float(h)])
        (m, K, T, size), self._call = self._call, None
        losses = np.empty(2 * np.size(params[name]))
        for i in range(losses.size):
            kind, detail = self._receive(*self._limit(m, K, T), 8 * size + (1 << 20))
            self._raised(kind, detail, "the call")
            try:
                if kind == "loss":
                    losses[i] = self._loss(detail)
                    continue
                if kind == "ok":
                    self._checked(detail, m, K)     # says what is wrong with it
            except ModelError as err:
                self._fail(str(err))
            self._fail(f"{self.where()}: the gradient check's call answered {printable(str(kind), 40)!r}, which "
                       "is no reply of labrnn's protocol there")
        return losses[0::2], losses[1::2]

    @staticmethod
    def _limit(m: int, K: int, T: int) -> tuple[float, str, str]:
        """A call's time limit, what it is doing and the limit's name, for `_send` and `_receive`."""
        return (call_limit(m, K, T), "the call loss_and_grads(params, x, y, h0)",
                f"labrnn.student.sandbox.call_limit: CALL_SECONDS = {CALL_SECONDS:g} s plus time for m = {m}, K = {K}, "
                f"seq_length = {T}")

    def _checked(self, reply, m: int, K: int):
        """(loss, grads, h_last) from their reply, or the ModelError that says what is wrong with it."""
        def wrong(problem: str) -> ModelError:
            return ModelError(f"{self.where()}: loss_and_grads returned {problem}")

        if reply[0] != "sequence" or reply[3] != 3:
            raise wrong(f"{_what(reply)}; expected a tuple (loss, grads, h_last)")
        loss_, grads_, h_ = reply[2]
        loss = self._loss(loss_)
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

    def _loss(self, value) -> float:
        """The loss of their reply, or the ModelError that says what is wrong with it."""
        if value[0] != "array" or np.dtype(value[2]).kind not in "iuf" or math.prod(value[3]) != 1:
            raise ModelError(f"{self.where()}: loss_and_grads returned a loss that is {_what(value)}; expected a "
                             "real number (a float)")
        loss = float(_array(value).reshape(()))
        if not math.isfinite(loss):
            raise ModelError(f"{self.where()}: loss_and_grads returned the loss {loss}; expected a finite number")
        return loss

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
        array = _array(value).astype(np.float64)          # a copy of labrnn's own
        if not np.isfinite(array).all():
            bad = ~np.isfinite(array)
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            what = "NaN" if np.isnan(array[first]) else "inf"
            where = ", ".join(map(str, first))
            raise wrong(f"holding {what} ({int(bad.sum())} of {array.size} entries not finite, the first at "
                        f"[{where}])")
        return array


def _array(value) -> np.ndarray:
    """A reply's array as a read-only view of its bytes (callers copy what they keep)."""
    _, _, dtype, shape, data = value
    return np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape)


def _stop(proc: subprocess.Popen, sock: socket.socket, work: Path, scratch: ExitStack) -> None:
    """Close the socket (an idle child then ends by itself); kill a child that does not end within a second
    (its whole process group: it is the leader of its own session), then remove its scratch directory."""
    sock.close()
    try:
        proc.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    _remove(work, scratch)


def _remove(work: Path, scratch: ExitStack) -> None:
    """Their scratch directory, whatever they made of it (directories without write or search permission;
    symbolic links are removed, never followed), then the locked directory around it."""
    if work.is_dir() and not work.is_symlink():
        os.chmod(work, 0o700)
        for root, dirs, _ in os.walk(work):
            for d in dirs:
                if not os.path.islink(os.path.join(root, d)):
                    os.chmod(os.path.join(root, d), 0o700)
    scratch.close()


@contextmanager
def opened(model_file: ModelFile | None, settings, corpus, watch=None):
    """The sandbox of `model_file` (settings.model as read once), started and checked with one call on the lab's
    starting point (its initial parameters, the corpus's first seq_length characters, h0 = 0), so a broken file
    is refused before anything is written; None without a model. `watch(sandbox)` is called before it starts
    (so that another thread can kill it)."""
    if model_file is None:
        yield None
        return
    sandbox = sandboxed(model_file, settings, corpus)
    if watch is not None:
        watch(sandbox)
    with sandbox:
        K, m, T = corpus.K, settings.m, settings.seq_length
        params = init_params(K, m, settings.sigma, np.random.default_rng(settings.seed))
        sandbox(params, corpus.data[:T].astype(np.int64), corpus.data[1:T + 1].astype(np.int64), np.zeros(m))
        yield sandbox


def sandboxed(model_file: ModelFile, settings, corpus=None) -> Sandbox:
    """The (unstarted) sandbox of `model_file`, with the limits of the run `settings` describe and their
    SANDBOX setting; a ModelError when the file could not be read."""
    if model_file.problem:
        raise ModelError(model_file.problem)
    steps = settings.total_steps(settings.split(corpus.size)) if corpus is not None else 0
    return Sandbox(model_file, Limits.of(steps, settings.limits), settings.sandbox == "strict")
