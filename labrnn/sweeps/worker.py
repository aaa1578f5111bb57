"""The workers of the cluster a sweep starts on this machine (`labrnn.sweeps.cluster.connect`): what each does
besides Dask's own, as a WorkerPlugin it sets up as it starts.

The sweep closes its cluster on the way out, Ctrl-C included: Dask's nanny asks each worker to close, waits
4 s, then kills it (SIGKILL), which runs no clean-up of the worker's.  So a closing worker stops the report under
way (training stops at its next chunk, as on Ctrl-C; its kernel is killed, so a notebook running fails at once)
and ends its kernels, their files removed at once (`labrnn.report.execute.stop_kernels`): the report's thread
unwinds the rest (its scratch directory) and the worker usually exits on its own, in a second or two.  Should it
be killed all the same (a loaded machine, a model file's step that outlasts the grace, the out-of-memory killer),
it leaves no kernel file and no semaphore for Python's resource tracker to warn about: its progress bars, never
shown, take a thread lock instead of tqdm's default cross-process one.  A terminal's Ctrl-C reaches the workers
too (they share its process group): they ignore it, as the sweep closes them.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import threading

from distributed.diagnostics.plugin import WorkerPlugin
from tqdm import tqdm

from labrnn.report.execute import stop_kernels
from labrnn.rnn.train import stop_every_run


class SweepWorker(WorkerPlugin):
    """Set up in each worker of a sweep's own cluster as it starts, torn down as it closes."""

    name = "labrnn-sweep-worker"

    def setup(self, worker) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        tqdm.set_lock(threading.RLock())

    async def teardown(self, worker) -> None:
        # nbclient logs each kernel it finds killed ("Kernel died while waiting for execute reply.") to papermill's
        # logger, which has no handler: Python prints it bare on the sweep's terminal.  The report is discarded.
        logging.getLogger("papermill").disabled = True
        stop_every_run()
        await asyncio.to_thread(stop_kernels)       # off the worker's event loop: kernels take ~0.1 s each
