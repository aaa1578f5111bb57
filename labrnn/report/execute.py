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
- The kernels start before they are needed (`kernels`): a kernel's start-up
  (~0.6 s each) does not depend on the run, so `make_report` starts them
  before it trains, and they are ready when training ends.
"""
from __future__ import annotations

import asyncio
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

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
def kernels(cwd: Path):
    """A kernel per notebook, started now in `cwd` (without waiting for it), all shut down on leaving. None when
    one cannot start: each notebook then starts its own, and the failure is named as that notebook's."""
    from jupyter_client.utils import run_sync

    from labrnn.report.papermill_engine import ThisInterpreter, kernel_config
    started = []
    try:
        try:
            for name in NOTEBOOKS:
                started.append(ThisInterpreter(kernel_name="labrnn", config=kernel_config()))
                # what a kernel writes to its own stderr (a shutdown race of ipykernel under load logs a
                # traceback there) is none of the user's: the notebooks' output travels over the kernel's sockets
                run_sync(started[-1].start_kernel)(cwd=str(cwd), stderr=subprocess.DEVNULL)
        except Exception:
            run_sync(_shut_down)(started)
            started = []
        yield dict(zip(NOTEBOOKS, started))
    finally:
        run_sync(_shut_down)(started)


async def _shut_down(managers) -> None:
    """Stop the kernels side by side. Each was asked to shut down when its notebook ended, or has run none
    (a failed report): nothing of theirs is left to save, so they are killed, not waited for (~0.1 s each)."""
    await asyncio.gather(*(km.shutdown_kernel(now=True) for km in managers if km.has_kernel),
                         return_exceptions=True)


def execute(notebooks: Path, out: Path, parameters: dict, cwd: Path, *,
            start_timeout: int, cell_timeout: int, started: dict | None = None) -> list[tuple[str, float]]:
    """Run the notebooks with papermill into `out`, in order; the seconds each took.

    `started`: the kernels of `kernels(cwd)` by notebook; without it each notebook starts its own.
    """
    import papermill
    from jupyter_client.utils import run_sync
    from papermill.exceptions import PapermillExecutionError

    from labrnn.report.papermill_engine import ENGINE, CellTimeout, kernel_config
    times = []
    for name in NOTEBOOKS:
        t0 = time.perf_counter()
        kernel = {"km": started[name]} if started else {"config": kernel_config()}
        try:
            papermill.execute_notebook(notebooks / name, out / name, parameters=parameters, engine_name=ENGINE,
                                       kernel_name="labrnn", progress_bar=False, cwd=str(cwd),
                                       request_save_on_cell_execute=False, start_timeout=start_timeout,
                                       execution_timeout=cell_timeout, **kernel)
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
        if started:                                   # it exits while the next notebook runs
            run_sync(started[name].request_shutdown)()
        times.append((name, time.perf_counter() - t0))
    return times


def _first_line(text: str | None) -> str:
    return text.strip().splitlines()[0] if text and text.strip() else ""
