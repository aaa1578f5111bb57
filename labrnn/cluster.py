"""The Dask cluster a sweep runs on: one the user names, or one started on this machine for the sweep.

`connect` is the one way in.  With an address (`--scheduler`, `DASK_SCHEDULER_ADDRESS` through Dask's own
`scheduler-address` setting, or `--scheduler-file`) it connects to that scheduler within CONNECT_TIMEOUT
seconds or raises ClusterError naming it; without one it starts a `LocalCluster` of worker processes with one
thread each (and, through Dask's `distributed.nanny.pre-spawn-environ`, one BLAS thread each unless the user
set OMP/OPENBLAS/MKL_NUM_THREADS), closed again on the way out, Ctrl-C included.

`usable_workers` holds every worker to the client's numbers: a worker whose labrnn has another version or
numerics fingerprint (see `labrnn.cache.numerics_fingerprint`) would make runs under another cache key.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

CONNECT_TIMEOUT = 5         # seconds: an unreachable scheduler is named well within 10 s


class ClusterError(Exception):
    """A scheduler that cannot be reached, or no worker fit to run; the message is one line for the user."""


def cores() -> int:
    """The cores this process may use: affinity and cgroup CPU quotas (a container's or a SLURM job's)."""
    from dask.system import cpu_count
    return cpu_count()


def address(scheduler: str | None, scheduler_file: str | None) -> str | None:
    """The scheduler the user named: --scheduler, else the one in --scheduler-file, else
    DASK_SCHEDULER_ADDRESS (Dask's `scheduler-address` setting reads it); None for a cluster on this machine."""
    import dask
    if scheduler:
        return scheduler
    if scheduler_file:
        import json
        try:
            with open(scheduler_file, encoding="utf-8") as fh:
                return str(json.load(fh)["address"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ClusterError(f"cannot read the scheduler's address from {scheduler_file!r} "
                               f"({type(err).__name__}: {err})") from None
    return dask.config.get("scheduler-address", None) or None


def dashboard_link(client) -> str | None:
    """The address of the scheduler's dashboard, when it can serve one (it needs bokeh where the scheduler runs,
    an optional dependency; without it the scheduler's web server only says so)."""
    try:
        served = client.run_on_scheduler(lambda: __import__("importlib.util").util.find_spec("bokeh") is not None)
        return client.dashboard_link if served else None
    except Exception:                   # a scheduler that runs no code of ours: no link, the sweep goes on
        return None


@contextmanager
def connect(where: str | None, workers: int):
    """A `distributed.Client` of the scheduler at `where`, or of a LocalCluster of `workers` processes."""
    from distributed import Client, LocalCluster
    if where is not None:
        try:
            client = Client(where, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except Exception as err:            # refused, timed out, no such host, not an address: all one line
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ClusterError(f"cannot reach the Dask scheduler at {where}: {reason}") from None
        with client:
            yield client
        return
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR,   # a free port
                           scheduler_kwargs={"host": "127.0.0.1"}, worker_dashboard_address=None)
    try:
        with Client(cluster, set_as_default=False) as client:
            yield client
    finally:
        cluster.close(timeout=10)


def identity() -> tuple[str, str]:
    """On a worker: the labrnn it runs, as (version, numerics fingerprint)."""
    from . import __version__
    from .cache import numerics_fingerprint
    return __version__, numerics_fingerprint()


def usable_workers(client, log) -> list[str] | None:
    """The workers whose labrnn makes the numbers this one makes; each other worker is refused in one line.

    Returns None when every worker fits (tasks may then go to any worker, later ones too), else the list of
    those that do; raises ClusterError when none does.  A worker that joins later is checked by its first
    task (`labrnn.task.run`), and the run it returns by its cache key.
    """
    mine = identity()
    found = client.run(identity, on_error="return")
    if not found:
        log(f"waiting for the first worker to join the scheduler at {client.scheduler.address}")
        client.wait_for_workers(1)
        found = client.run(identity, on_error="return")
    good = []
    for worker, theirs in sorted(found.items()):
        if isinstance(theirs, BaseException):
            log(f"labrnn: warning: worker {worker} refused: it cannot run labrnn "
                f"({type(theirs).__name__}: {str(theirs).splitlines()[0] if str(theirs) else ''})")
        elif tuple(theirs) != mine:
            log(f"labrnn: warning: worker {worker} refused: it runs labrnn {theirs[0]} with numerics "
                f"{theirs[1]}, this one {mine[0]} with numerics {mine[1]}; install the same labrnn there")
        else:
            good.append(worker)
    if not good:
        raise ClusterError(f"no worker of the scheduler at {client.scheduler.address} runs this labrnn "
                           f"({mine[0]}, numerics {mine[1]}); install the same labrnn on the workers")
    return None if len(good) == len(found) else good

