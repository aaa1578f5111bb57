"""The Dask cluster a sweep runs on: one the user names, or one started on this machine for the sweep.

`connect` is the one way in.  With an address (`--scheduler`, `DASK_SCHEDULER_ADDRESS` through Dask's own
`scheduler-address` setting, or `--scheduler-file`), checked first by Dask's own address parser, it connects to
that scheduler and has its first answer within ANSWER_TIMEOUT seconds, or raises ClusterError naming it; without
one it starts a `LocalCluster` of worker processes with one thread each (and, through Dask's
`distributed.nanny.pre-spawn-environ`, one BLAS thread each unless the user set OMP/OPENBLAS/MKL_NUM_THREADS),
closed again on the way out, Ctrl-C included (each worker stops its report and ends its kernels as it closes:
`labrnn.sweeps.worker`).

`usable_workers` waits up to WORKER_TIMEOUT seconds for a named scheduler's first worker, and holds every worker
to the client's numbers: a worker whose labrnn has another version or numerics fingerprint (see
`labrnn.report.cache.numerics_fingerprint`) would make runs under another cache key.
"""
from __future__ import annotations

import json
import logging
import os
import stat
from contextlib import contextmanager

from labrnn.rnn.corpus import shown
from labrnn.settings import DEFAULTS

CONNECT_TIMEOUT = 5         # seconds: an unreachable scheduler is named well within 10 s
ANSWER_TIMEOUT = CONNECT_TIMEOUT + 2    # seconds until it has answered: one that accepts and stays silent too
MAX_FILE = 64 * 1024        # bytes: a scheduler file is a few hundred bytes of JSON


class ClusterError(Exception):
    """A scheduler that cannot be reached, or no worker fit to run; the message is one line for the user."""


def cores() -> int:
    """The cores this process may use: affinity and cgroup CPU quotas (a container's or a SLURM job's)."""
    from dask.system import cpu_count
    return cpu_count()


def address(scheduler: str | None, scheduler_file: str | None) -> str | None:
    """The scheduler the user named: --scheduler, else the one in --scheduler-file, else
    DASK_SCHEDULER_ADDRESS (Dask's `scheduler-address` setting reads it), each checked by `checked`; None for
    a cluster on this machine."""
    import dask
    if scheduler:
        return checked(scheduler)
    if scheduler_file:
        return checked(_from_file(scheduler_file))
    where = dask.config.get("scheduler-address", None)
    return checked(where) if where else None


def checked(where: str) -> str:
    """The address, if Dask reads it as a scheduler's (tcp://host:port, in ASCII); ClusterError otherwise, before
    any Client is made (one refused for its address would wait 10 s on its way out, then print a traceback)."""
    from distributed.comm import get_address_host_port
    try:
        if not (where.isascii() and where.isprintable()):
            raise ValueError("write it in printable ASCII")
        port = get_address_host_port(where)[1]
        if not 0 < port < 65536:
            raise ValueError(f"port {port} is outside 1 to 65535")
    except ValueError as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ClusterError(f"'{shown(where)}' is no Dask scheduler address ({reason}); give one such as "
                           "tcp://10.0.0.5:8786") from None
    return where


def _from_file(path: str) -> str:
    """The address in the file `dask scheduler --scheduler-file` wrote.  Read as a corpus is: only a regular file
    of at most MAX_FILE bytes, opened without blocking, so a FIFO, a device or /dev/zero is refused, not read."""
    def fail(why: str):
        raise ClusterError(f"cannot read the scheduler's address from {shown(path)}: {why}")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except (OSError, ValueError) as err:
        fail(getattr(err, "strerror", None) or str(err))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            fail("it is not a regular file (a directory, device, pipe or socket); give the file "
                 "`dask scheduler --scheduler-file` wrote")
        raw = os.read(fd, MAX_FILE + 1)
    finally:
        os.close(fd)
    if len(raw) > MAX_FILE:
        fail(f"it has more than {MAX_FILE:,} bytes; a scheduler file has a few hundred")
    try:
        where = json.loads(raw.decode("utf-8"))["address"]
    except (ValueError, KeyError, TypeError) as err:
        fail(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    if not isinstance(where, str):
        fail(f"its address is {type(where).__name__}, not text")
    return where


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
            client = _client(where)
        except TimeoutError:                # connected, then no answer: Dask waits for its handshake forever
            raise ClusterError(f"cannot reach the Dask scheduler at {where}: it accepted the connection but did not "
                               f"answer within {ANSWER_TIMEOUT} s; is that a Dask scheduler's address?") from None
        except Exception as err:            # refused, timed out, no such host: all one line
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ClusterError(f"cannot reach the Dask scheduler at {where}: {reason}") from None
        with client:
            yield client
        return
    from labrnn.sweeps.worker import SweepWorker
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR,   # a free port
                           scheduler_kwargs={"host": "127.0.0.1"}, worker_dashboard_address=None,
                           plugins=(SweepWorker(),))     # set up in each worker before it takes a task
    try:
        with Client(cluster, set_as_default=False) as client:
            yield client
    finally:
        cluster.close(timeout=10)


def _client(where: str):
    """Client(where), its start (the connection, Dask's handshake, the scheduler's first answers) bounded by
    ANSWER_TIMEOUT: Dask bounds the connection by its timeout but waits on the handshake without one.  A start
    that fails closes the client while its event loop still runs, so nothing waits or prints at exit."""
    from distributed import Client

    class Bounded(Client):
        def start(self, **kwargs):
            try:
                super().start(callback_timeout=ANSWER_TIMEOUT, **kwargs)
            except BaseException:
                self.close(timeout=1)
                raise
    return Bounded(where, timeout=CONNECT_TIMEOUT, set_as_default=False)


def identity() -> tuple[str, str]:
    """On a worker: the labrnn it runs, as (version, numerics fingerprint)."""
    from labrnn.report.cache import numerics_fingerprint
    from labrnn.version import __version__
    return __version__, numerics_fingerprint()


def usable_workers(client, log, wait: float = DEFAULTS["worker_timeout"]) -> list[str] | None:
    """The workers whose labrnn makes the numbers this one makes; each other worker is refused in one line.

    Returns None when every worker fits (tasks may then go to any worker, later ones too), else the list of
    those that do; raises ClusterError when none does, or when no worker joins within `wait` seconds.  A
    worker that joins later is checked by its first task (`labrnn.sweeps.task.run`), and the run it returns by its
    cache key.
    """
    mine = identity()
    found = client.run(identity, on_error="return")
    if not found:
        log(f"waiting up to {wait:g} s for the first worker to join the scheduler at {client.scheduler.address}")
        try:
            client.wait_for_workers(1, timeout=wait)
        except TimeoutError:
            raise ClusterError(f"no worker joined the scheduler at {client.scheduler.address} within {wait:g} s; "
                               "start workers there (WORKER_TIMEOUT waits longer)") from None
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

