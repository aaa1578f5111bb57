"""The papermill engine "labrnn": nbclient's, with a kernel that is this interpreter.

See `labrnn.report.execute` for why; this module holds the heavy imports.
"""
from __future__ import annotations

import atexit
import contextlib
import glob
import os
import sys
import tempfile
import uuid

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError
from papermill.engines import NBClientEngine, papermill_engines

ENGINE = "labrnn"


class CellTimeout(Exception):
    """A cell that ran past the limit: the cell (None if none had started) and the limit."""

    def __init__(self, cell, limit: int):
        super().__init__(cell, limit)
        self.cell, self.limit = cell, limit


class ThisInterpreter(AsyncKernelManager):
    """nbclient's (async) kernel manager, with this very interpreter as the kernel, whatever kernelspecs exist.

    As it starts, the kernel imports what the notebooks' first cells import and draws a throwaway figure: the
    kernel starts while the run trains, so that work is done by the time the first notebook runs.
    """

    @property
    def kernel_spec(self) -> KernelSpec:
        return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                                "--IPKernelApp.log_level=CRITICAL", f"--IPKernelApp.exec_lines={WARM_UP}"],
                          display_name="labrnn", language="python")


WARM_UP = "from labrnn.report import plots as _p, render as _r, run as _n; _p.warm(); del _p, _r, _n"


class Engine(NBClientEngine):
    """papermill's nbclient engine with `ThisInterpreter`; a timed-out cell is named by its number."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
        try:
            return super().execute_managed_notebook(nb_man, kernel_name,
                                                    kernel_manager_class=ThisInterpreter, **kwargs)
        except CellTimeoutError:
            started = [c for c in nb_man.nb.cells if c.get("metadata", {}).get("papermill", {}).get("start_time")]
            raise CellTimeout(started[-1] if started else None, kwargs["execution_timeout"]) from None


papermill_engines.register(ENGINE, Engine)


def kernel_config():
    """Unix sockets at a fresh path, unique per kernel (a shared path let two kernels cross-talk)."""
    from traitlets.config import Config
    # A socket's path holds at most 107 bytes: 48 random bits, not 128, leave room for a deep TMPDIR.
    socket = os.path.join(tempfile.gettempdir(), f"labrnn-kernel-{uuid.uuid4().hex[:12]}")
    _SOCKETS.append(socket)
    return Config({"KernelManager": {"transport": "ipc", "ip": socket}})


_SOCKETS: list[str] = []


@atexit.register
def _remove_sockets() -> None:
    """The socket files of this process's kernels, should a second Ctrl-C or a SIGTERM cut their cleanup short."""
    for socket in _SOCKETS:
        for path in glob.glob(glob.escape(socket) + "-*"):
            with contextlib.suppress(OSError):
                os.unlink(path)
