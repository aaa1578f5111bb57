"""Executing the notebooks: papermill, in this interpreter, over private sockets, within time limits.

The engine that makes it so is `labrnn.report.papermill_engine`, imported only when notebooks run (papermill and
nbclient take a second or two to import):

- The kernel is always `sys.executable`: the user's kernelspecs (a `python3` of
  a course image or a conda base earlier on JUPYTER_PATH) are never consulted,
  so the notebooks see the labrnn that runs the report.
- It talks over Unix sockets at a fresh path, not TCP ports: jupyter_client
  picks a port by binding and releasing it, so kernels started side by side
  (a sweep, two `make report`s) could race for one.
- Starting the kernel and each cell have time limits, so a kernel that stops
  answering fails its notebook instead of hanging the report.
- One kernel runs the four notebooks, each in a fresh namespace (`_forget`
  between them): a kernel's start-up and the imports of a notebook's first cell
  (~1.7 s of CPU together) are paid once per report, not four times. It starts
  before it is needed (`kernel`): start-up does not depend on the run, so
  `make_report` starts it before it trains, and it is ready when training ends.
- A process that makes several reports (a sweep's worker, a script, the tests)
  keeps the kernel of a report that went well for its next one, its namespace
  reset and its directory changed, and shuts it down when it exits: the start-up,
  the imports and matplotlib's first figure are paid once per process. A report
  that failed shuts its kernel down, whatever state it was left in. A sweep's
  worker, whose reports run in threads no Ctrl-C reaches, ends them all at once
  as it closes (`stop_kernels`).
"""
from __future__ import annotations

import atexit
import os
import signal
import subprocess
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from queue import Empty

from labrnn.layout import PACKAGE

NOTEBOOKS = ("1-gradient-check.ipynb", "2-training.ipynb", "3-text-evolution.ipynb", "4-best-model.ipynb")


def notebook_dir() -> Path:
    """The notebooks: inside the installed package (a wheel), or the checkout's notebooks/ (editable)."""
    packaged = PACKAGE / "notebooks"
    return packaged if packaged.is_dir() else PACKAGE.parent / "notebooks"


class NotebookFailed(Exception):
    """A notebook stopped with an error: which one, and where."""

    def __init__(self, name: str, detail: str):
        super().__init__(name, detail)
        self.name, self.detail = name, detail


@contextmanager
def kernel(cwd: Path):
    """The report's kernel: this process's idle one, moved to `cwd`, or one started now in `cwd` (without waiting
    for it); kept for the process's next report if this one went well, shut down if not. None when it cannot
    start: each notebook then starts its own, and the failure is named as that notebook's."""
    km = _idle_kernel(cwd) or _start(cwd)
    with _LOCK:
        _BUSY.add(km)
    went_well = False
    try:
        yield km
        went_well = True
    finally:
        with _LOCK:
            _BUSY.discard(km)
            kept = went_well and km is not None and not _STOPPED.is_set()
            if kept:
                _IDLE.append((threading.get_ident(), km))
        if not kept:
            _shutdown(km)


# Kernels of reports that went well, waiting for this process's next report, each with the thread that started
# it: a kernel manager belongs to that thread's event loop, and a sweep's worker may make reports in several.
_IDLE: list = []
_BUSY: set = set()              # the kernels of reports under way
_STOPPED = threading.Event()    # set by stop_kernels, never cleared: the process is ending
_LOCK = threading.Lock()


@atexit.register
def shut_down_idle_kernels() -> None:
    """The kept kernels, shut down (at exit, or when a caller wants none left running)."""
    with _LOCK:
        kept, _IDLE[:] = list(_IDLE), []
    for _, km in kept:
        _shutdown(km)


def stop_kernels() -> None:
    """Every kernel of this process ended now and none kept from now on, for a process about to end whose reports
    run in threads no signal reaches (a sweep's worker as it closes, `labrnn.sweeps.worker`): the idle ones shut
    down; those of reports under way killed, so that a notebook running fails at once, and their connection files
    and sockets removed here, should the process be killed before the report's thread has unwound."""
    from jupyter_client.utils import run_sync
    _STOPPED.set()
    with _LOCK:
        busy = [km for km in _BUSY if km is not None]
    for km in busy:
        with suppress(Exception):               # one that died with its notebook has nothing left to kill
            run_sync(km.signal_kernel)(signal.SIGKILL)
        km.cleanup_connection_file()            # files only: its sockets and context stay its thread's to close
        km.cleanup_ipc_files()
    shut_down_idle_kernels()


def _start(cwd: Path):
    from jupyter_client.utils import run_sync

    from labrnn.report.papermill_engine import ThisInterpreter, kernel_config
    km = ThisInterpreter(kernel_name="labrnn", config=kernel_config())
    try:
        # what a kernel writes to its own stderr (a shutdown race of ipykernel under load logs a traceback there)
        # is none of the user's: the notebooks' output travels over the kernel's sockets
        run_sync(km.start_kernel)(cwd=str(cwd), stderr=subprocess.DEVNULL)
    except Exception:
        return None
    return km


def _idle_kernel(cwd: Path):
    """An idle kernel of this process that still answers, its namespace reset and its directory `cwd`; None if
    there is none."""
    from jupyter_client.utils import run_sync
    while True:
        with _LOCK:
            mine = [i for i, (thread, _) in enumerate(_IDLE) if thread == threading.get_ident()]
            if not mine:
                return None
            _, km = _IDLE.pop(mine[-1])
        try:
            run_sync(_forget)(km, cwd)
            return km
        except Exception:           # it died while idle, or stopped answering
            _shutdown(km)


def _shutdown(km) -> None:
    """Nothing of its notebooks is left to save: it is killed, not waited for (~0.1 s); one that died with its
    notebook has nothing left to kill."""
    from jupyter_client.utils import run_sync
    if km is not None and km.has_kernel:
        with suppress(Exception):
            run_sync(km.shutdown_kernel)(now=True)


async def _forget(km, cwd: Path | None = None) -> None:
    """The names the last notebook defined are dropped (the modules it imported stay loaded) and cells count from
    1 again, so that each notebook sees only its own and reads as when it is opened on its own; with `cwd`, the
    kernel moves there first (the path travels as hex digits: nothing of it is run), since `reset` asks for the
    working directory, and a sweep's worker has removed the last report's by then."""
    code = "get_ipython().reset(new_session=False); get_ipython().execution_count = 1"
    if cwd is not None:
        code = f"import os as _os; _os.chdir(_os.fsdecode(bytes.fromhex('{os.fsencode(cwd).hex()}')))\n{code}"
    kc = km.client()
    kc.start_channels()
    try:
        reply = await _reply(km, kc, kc.execute(code, silent=True, store_history=False), timeout=60)
    finally:
        kc.stop_channels()
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"the kernel could not be reset: {reply['content'].get('evalue')}")


async def _reply(km, kc, request: str, timeout: float) -> dict:
    """The shell's reply to `request`, waited for a second at a time: a kernel that dies meanwhile (killed
    between two notebooks) is noticed within a second, not at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            msg = await kc.get_shell_msg(timeout=1)
        except Empty:
            if not await km.is_alive():
                raise RuntimeError("the kernel died") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"the kernel did not answer within {timeout:g} s") from None
            continue
        if msg["parent_header"].get("msg_id") == request:
            return msg


def execute(notebooks: Path, out: Path, parameters: dict, cwd: Path, *,
            start_timeout: int, cell_timeout: int, km=None) -> list[tuple[str, float]]:
    """Run the notebooks with papermill into `out`, in order; the seconds each took.

    `km`: the kernel of `kernel(cwd)`, which runs them all; without it each notebook starts its own.
    """
    import papermill
    from jupyter_client.utils import run_sync
    from papermill.exceptions import PapermillExecutionError

    from labrnn.report.papermill_engine import ENGINE, CellTimeout, kernel_config
    times = []
    for name in NOTEBOOKS:
        t0 = time.perf_counter()
        own = {"km": km} if km else {"config": kernel_config()}
        try:
            if km and times:
                run_sync(_forget)(km)
            papermill.execute_notebook(notebooks / name, out / name, parameters=parameters, engine_name=ENGINE,
                                       kernel_name="labrnn", progress_bar=False, cwd=str(cwd),
                                       request_save_on_cell_execute=False, start_timeout=start_timeout,
                                       execution_timeout=cell_timeout, **own)
        except PapermillExecutionError as err:
            raise NotebookFailed(name, f"cell In [{err.exec_count}] ({_first_line(err.source)!r}) raised "
                                       f"{err.ename}: {_first_line(err.evalue)}") from None
        except CellTimeout as err:
            where = (f"cell In [{err.cell.get('execution_count')}] ({_first_line(err.cell.source)!r})"
                     if err.cell is not None else "a cell")
            raise NotebookFailed(name, f"{where} did not finish within {err.limit:,} s "
                                       "(CELL_TIMEOUT, --cell-timeout)") from None
        except Exception as err:                      # a dead kernel, a kernel that never started, ...
            detail = f"{type(err).__name__}: {_first_line(str(err))}"
            if "didn't respond" in str(err):
                detail += f" (START_TIMEOUT, --start-timeout: {start_timeout:,} s)"
            raise NotebookFailed(name, detail) from None
        times.append((name, time.perf_counter() - t0))
    return times


def _first_line(text: str | None) -> str:
    return text.strip().splitlines()[0] if text and text.strip() else ""
