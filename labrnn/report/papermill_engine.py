"""The papermill engine "labrnn": nbclient's, with a kernel that is this interpreter.

See `labrnn.report.execute` for why; this module holds the heavy imports.
"""
from __future__ import annotations

import atexit
import contextlib
import glob
import math
import os
import sys
import tempfile
import time
import uuid
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError
from papermill.engines import NBClientEngine, papermill_engines
from traitlets import Type

ENGINE = "labrnn"


class CellTimeout(Exception):
    """A cell that ran past the limit: the cell (None if none had started) and the limit."""

    def __init__(self, cell, limit: int):
        super().__init__(cell, limit)
        self.cell, self.limit = cell, limit


class ReadyClient(AsyncKernelClient):
    """jupyter_client's async client, ready as soon as the kernel has answered a kernel_info request on shell and
    sent that request's idle status on IOPub.

    The library then waits for 0.2 s of silence on IOPub, on every connection: 0.2 s for each notebook of every
    report. Nothing needs that flush: nbclient reads only the messages whose parent is one of its own requests.
    """

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (math.inf if timeout is None else timeout)
        while not await self._answered(self.kernel_info()):
            if not await self.is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")

    async def _answered(self, request: str) -> bool:
        """Whether `request`'s reply came on shell and then its idle status on IOPub, each within a second. A
        subscription to IOPub made a moment ago may miss that status: the request is then sent again."""
        for channel, last in ((self.shell_channel, lambda msg: msg["msg_type"] == "kernel_info_reply"),
                              (self.iopub_channel, lambda msg: msg["msg_type"] == "status"
                               and msg["content"]["execution_state"] == "idle")):
            while True:
                try:
                    msg = await channel.get_msg(timeout=1)
                except Empty:
                    return False
                if msg["parent_header"].get("msg_id") == request and last(msg):
                    break
        return True


class ThisInterpreter(AsyncKernelManager):
    """nbclient's (async) kernel manager, with this very interpreter as the kernel, whatever kernelspecs exist.

    As it starts, the kernel imports what the notebooks' first cells import and draws a throwaway figure: the
    kernel starts while the run trains, so that work is done by the time the first notebook runs. It keeps no
    input history: IPython's SQLite file in the user's home is shared by every kernel, and cells counted from 1
    again for each notebook would collide there (IPython then prints an error into a cell's output).
    """

    client_factory = Type(ReadyClient, klass=AsyncKernelClient)

    @property
    def kernel_spec(self) -> KernelSpec:
        return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                                "--IPKernelApp.log_level=CRITICAL", "--HistoryManager.enabled=False",
                                f"--IPKernelApp.exec_lines={WARM_UP}"],
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
