"""Sweeps on a real Dask cluster: a `dask scheduler` and two `dask worker --nthreads 1` processes started here on
127.0.0.1 (ephemeral ports), each worker in a working directory and TMPDIR of its own; a worker killed while it
runs a task; a scheduler that cannot be reached; workers whose labrnn makes other numbers; Ctrl-C on a sweep's
own cluster.  Every process started here is stopped, with its descendants (the workers' notebook kernels)."""
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from labrnn import RunDir, load_corpus
from labrnn.report import cache
from labrnn.sweeps import cluster
from labrnn.cli import main

BIN = Path(sys.executable).parent
SLOW = 180                       # seconds any one wait may take on a loaded 2-core machine before the test fails


def start(argv, cwd: Path, env=None) -> subprocess.Popen:
    """A process in a session of its own (so it and its children can be stopped together), its output in cwd."""
    log = open(cwd / f"{Path(argv[0]).name}-{argv[1]}.log", "ab")
    return subprocess.Popen(argv, cwd=cwd, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    """The process, its session and every descendant (a kernel may have left the session) ended."""
    try:
        head = psutil.Process(proc.pid)
        family = [head, *head.children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    _, alive = psutil.wait_procs(family, timeout=10)
    for p in alive:
        p.kill()
    proc.wait(timeout=10)


def wait_for(condition, what: str, timeout=SLOW):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


@dataclass
class Worker:
    proc: subprocess.Popen
    tmp: Path

    def tasks(self) -> list[Path]:
        """The scratch directories of the tasks it runs now."""
        return list(self.tmp.glob("labrnn-task-*"))


@dataclass
class Cluster:
    address: str
    workers: list[Worker]
    scheduler_file: Path


def workers_of(address: str, n: int) -> list[str]:
    from distributed import Client
    with Client(address, timeout=30, set_as_default=False) as client:
        client.wait_for_workers(n, timeout=SLOW)
        return sorted(client.scheduler_info()["workers"])


@pytest.fixture
def make_cluster(tmp_path_factory):
    """make_cluster(n, preload=None): a scheduler and n workers; all stopped at the end of the test."""
    started = []

    def make(n: int, preload: Path | None = None, scheduler: Cluster | None = None) -> Cluster:
        root = tmp_path_factory.mktemp("cluster")
        if scheduler is None:
            file = root / "scheduler.json"
            started.append(start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--no-dashboard", "--scheduler-file", str(file)], root))
            address = json.loads(wait_for(lambda: file.exists() and file.read_text(), "the scheduler"))["address"]
            scheduler = Cluster(address, [], file)
        before = len(scheduler.workers)
        for i in range(n):
            home = root / f"worker{i}"
            (home / "tmp").mkdir(parents=True)
            argv = [str(BIN / "dask"), "worker", scheduler.address, "--nthreads", "1", "--no-dashboard",
                    "--host", "127.0.0.1", *(["--preload", str(preload)] if preload else [])]
            proc = start(argv, home, {"TMPDIR": str(home / "tmp")})
            started.append(proc)
            scheduler.workers.append(Worker(proc, home / "tmp"))
        workers_of(scheduler.address, before + n)
        return scheduler

    yield make
    for proc in reversed(started):
        stop(proc)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, genesis_text):
    path = tmp_path_factory.mktemp("client") / "genesis of the client.txt"
    path.write_text(genesis_text, encoding="utf-8")
    return path


def sweep_argv(corpus, reports, tiny_argv, *more) -> list[str]:
    return ["sweep", "--data", str(corpus), "--run-dir", str(reports), *tiny_argv(steps=120, sample_every=60,
            sample_until=120, best_len=80), "--eta", "0.1 0.05", "--seq", "8 12", *more]


def test_a_sweep_runs_on_the_cluster_and_comes_back(make_cluster, corpus, tiny_argv, tmp_path, capsys):
    c = make_cluster(2)
    reports = tmp_path / "reports"
    for w in c.workers:                 # what a worker killed in a task leaves: its next task removes it
        (w.tmp / "labrnn-task-killed").mkdir()
        (w.tmp / "labrnn-task-killed" / "run.npz").write_bytes(b"x" * 1000)
    assert main(sweep_argv(corpus, reports, tiny_argv, "--scheduler", c.address)) == 0
    err = capsys.readouterr().err
    done = [line for line in err.splitlines() if line.startswith("[")]
    assert len(done) == 4 and "4 to make on " + c.address in err
    assert "sweep: 100%" in err and "4/4 [" in err                  # one bar over the sweep
    assert {line.split(" on ")[1].split(",")[0] for line in done} == set(workers_of(c.address, 2))   # both worked
    text = load_corpus(str(corpus))
    for line in done:
        rd = RunDir(Path(line.rsplit("; ", 1)[1]).parent)
        assert rd.path.parent == reports and rd.path.name.startswith("genesis-of-the-client-")
        assert rd.read_key().key == cache.cache_key(rd.load_run().settings, text.sha256)
        assert (rd / "report.html").is_file() and (rd / "checkpoint.npz").is_file()
        assert not list(rd.path.glob(".build-*"))
    assert (reports / "index.html").is_file() and len(list(reports.glob("sweep-*/comparison.html"))) == 1
    assert all(not w.tasks() for w in c.workers)                  # the scratch directories are gone

    # again: every run is cached, decided here, nothing is sent
    assert main(sweep_argv(corpus, reports, tiny_argv, "--scheduler", c.address)) == 0
    err = capsys.readouterr().err
    assert "4 from their run directories (cached runs re-rendered here), 0 to make" in err
    done = [line for line in err.splitlines() if line.startswith("[")]
    assert len(done) == 4 and all("(cached run)" in line and " on tcp://" not in line for line in done)


def test_the_task_carries_the_corpus_by_content(corpus, tiny):
    from labrnn.sweeps import task
    settings = tiny(corpus)
    assert task.files(settings) == {"data": corpus}
    t = task.task(settings, "run", None, cluster.identity())
    assert t.checkpoint is None and t.notebooks is None and t.identity == cluster.identity()


def test_a_worker_killed_in_a_task_loses_nothing(make_cluster, corpus, tiny_argv, tmp_path):
    c = make_cluster(2)
    reports = tmp_path / "reports"
    sweep = start([str(BIN / "labrnn"), *sweep_argv(corpus, reports, tiny_argv, "--scheduler", c.address,
                                                    "--seed", "2")], tmp_path)
    try:
        victim = wait_for(lambda: next((w for w in c.workers if w.tasks()), None), "a worker to start a task")
        stop(victim.proc, signal.SIGKILL)
        assert sweep.wait(timeout=600) == 0
    finally:
        stop(sweep)
    log = (tmp_path / "labrnn-sweep.log").read_text()
    done = [line for line in log.splitlines() if line.startswith("[")]
    assert sorted(line.split("]")[0] for line in done) == [f"[{k}/4" for k in range(1, 5)]
    assert len({line.split(": ")[0].split("] ")[1] for line in done}) == 4 and "FAILED" not in log
    assert len([d for d in reports.iterdir() if (d / "key.json").exists()]) == 4


def test_jobs_caps_the_reports_in_flight(make_cluster, corpus, tiny_argv, tmp_path):
    c = make_cluster(2)
    sweep = start([str(BIN / "labrnn"), *sweep_argv(corpus, tmp_path / "reports", tiny_argv, "--scheduler", c.address,
                                                    "--seq", "8", "--seed", "4", "--jobs", "1")], tmp_path)
    most = 0
    try:
        while sweep.poll() is None:
            most = max(most, sum(len(w.tasks()) for w in c.workers))
            time.sleep(0.05)
    finally:
        stop(sweep)
    assert sweep.returncode == 0 and most == 1           # two workers free, one report at a time
    assert "2 to make on " + c.address + ", 1 at a time" in (tmp_path / "labrnn-sweep.log").read_text()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.serial                                    # bounds wall time
def test_an_unreachable_scheduler_is_one_line_and_nothing_written(corpus, tiny_argv, tmp_path, capsys):
    address = f"tcp://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    with pytest.raises(SystemExit) as exc:
        main(sweep_argv(corpus, tmp_path / "reports", tiny_argv, "--scheduler", address))
    assert time.monotonic() - t0 < 10                # the bound, imports already paid
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1
    assert err[0].startswith(f"labrnn sweep: error: cannot reach the Dask scheduler at {address}: ")
    assert not (tmp_path / "reports").exists()


def test_the_scheduler_comes_from_the_environment_or_a_file(corpus, tiny_argv, tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    file = tmp_path / "scheduler.json"
    file.write_text(json.dumps({"address": address}))
    for env, more in [({"DASK_SCHEDULER_ADDRESS": address}, []), ({}, ["--scheduler-file", str(file)])]:
        done = subprocess.run([str(BIN / "labrnn"), *sweep_argv(corpus, tmp_path / "reports", tiny_argv, *more)],
                              capture_output=True, text=True, env={**os.environ, **env}, timeout=SLOW)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert f"cannot reach the Dask scheduler at {address}" in done.stderr
    assert not (tmp_path / "reports").exists()


def test_a_missing_scheduler_file_is_one_line(corpus, tiny_argv, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(sweep_argv(corpus, tmp_path / "reports", tiny_argv, "--scheduler-file", str(tmp_path / "none.json")))
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and "cannot read the scheduler's address from " in err[0]
    assert not (tmp_path / "reports").exists()


def test_a_worker_of_other_numerics_is_refused(make_cluster, corpus, tiny_argv, tmp_path, capsys):
    other = tmp_path / "other_numerics.py"
    other.write_text("import labrnn.report.cache\nlabrnn.report.cache.numerics_fingerprint = lambda: '0123456789abcdef'\n")
    c = make_cluster(1, preload=other)
    bad = workers_of(c.address, 1)
    without = tmp_path / "without_labrnn.py"
    without.write_text("import sys\nsys.modules['labrnn'] = None     # as on a machine without it\n")
    make_cluster(1, preload=without, scheduler=c)
    missing = sorted(set(workers_of(c.address, 2)) - set(bad))
    with pytest.raises(SystemExit) as exc:              # only such workers: refused before anything is written
        main(sweep_argv(corpus, tmp_path / "reports", tiny_argv, "--scheduler", c.address))
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and err[-1].startswith("labrnn sweep: error: no worker of the scheduler at ")
    warned = {line.split()[3]: line for line in err[:-1]}
    assert sorted(warned) == sorted(bad + missing) and len(err) == 3
    assert "refused: it runs labrnn " in warned[bad[0]] and "numerics 0123456789abcdef" in warned[bad[0]]
    assert "refused: it cannot run labrnn" in warned[missing[0]]
    assert not (tmp_path / "reports").exists()

    make_cluster(1, scheduler=c)                        # a good one joins: the sweep runs there only
    assert main(sweep_argv(corpus, tmp_path / "reports", tiny_argv, "--scheduler", c.address, "--seq", "8")) == 0
    err = capsys.readouterr().err
    assert f"worker {bad[0]} refused" in err
    done = [line for line in err.splitlines() if line.startswith("[")]
    assert len(done) == 2 and all(bad[0] not in line and missing[0] not in line for line in done)


def test_ctrl_c_stops_the_sweep_and_its_own_cluster(corpus, tiny_argv, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    sweep = start([str(BIN / "labrnn"), *sweep_argv(corpus, tmp_path / "reports", tiny_argv, "--jobs", "2",
                                                    "--seed", "3")], tmp_path, {"TMPDIR": str(tmp)})
    try:
        wait_for(lambda: list(tmp.glob("labrnn-task-*")), "a worker of the embedded cluster to start a task")
        family = psutil.Process(sweep.pid).children(recursive=True)
        assert len(family) >= 2                         # the workers, and the kernels they started
        os.kill(sweep.pid, signal.SIGINT)
        assert sweep.wait(timeout=60) == 130
        _, alive = psutil.wait_procs(family, timeout=30)
        assert alive == []
    finally:
        stop(sweep)
    assert "labrnn: interrupted" in (tmp_path / "labrnn-sweep.log").read_text()


def left_behind(session: int, tmp: Path) -> list[psutil.Process]:
    """The live processes of a sweep's session, and those anywhere with its TMPDIR (its workers' notebook kernels
    run in sessions of their own)."""
    found = []
    for p in psutil.process_iter():
        try:
            if p.status() != psutil.STATUS_ZOMBIE and (os.getsid(p.pid) == session or
                                                       p.environ().get("TMPDIR") == str(tmp)):
                found.append(p)
        except (psutil.Error, OSError):     # gone meanwhile, or another user's
            continue
    return found


MODELS = Path(__file__).resolve().parent / "models"


@pytest.mark.serial                                    # bounds wall time: labrnn exits, its processes end
@pytest.mark.parametrize("model, under_way, group", [
    (False, "labrnn-task-*/reports/*/checkpoint.npz", True),    # a grid, training, the terminal's Ctrl-C: the group
    (True, "labrnn-task-*/reports/*/.build-*/*.ipynb", False),  # a class, its notebooks running, SIGINT to labrnn
], ids=["grid-training-ctrl-c", "class-rendering-sigint"])
def test_ctrl_c_leaves_no_kernel_file_process_or_warning(model, under_way, group, corpus, tiny_argv, tmp_path):
    """Ctrl-C while the workers train or render: they stop their reports and shut their kernels down before they
    exit, so no kernel, kernel connection file, socket or leaked semaphore is left; one line, exit 130, and only
    finished reports in reports/."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    reports = tmp_path / "reports"
    argv = ["sweep", "--data", str(corpus), "--reports", str(reports), "--jobs", "2"]
    if model:                                           # the model files train slower: fewer steps
        (tmp_path / "class").mkdir()
        for name in ("reference_rnn", "loop_rnn", "correct_columns"):
            (tmp_path / "class" / f"{name}.py").write_bytes((MODELS / f"{name}.py").read_bytes())
        argv += [*tiny_argv(m=8, steps=1500, sample_every=500, sample_until=1500), "--model", str(tmp_path / "class")]
    else:
        argv += [*tiny_argv(m=8, steps=300_000, sample_every=100_000, sample_until=300_000), "--eta", "0.1 0.05 0.02"]
    sweep = start([str(BIN / "labrnn"), *argv], tmp_path, {"TMPDIR": str(tmp)})
    try:
        wait_for(lambda: list(tmp.glob(under_way)), f"a worker's {under_way}")
        (os.killpg if group else os.kill)(sweep.pid, signal.SIGINT)
        assert sweep.wait(timeout=60) == 130
        deadline = time.monotonic() + 10               # the resource tracker ends just after labrnn
        while (alive := left_behind(sweep.pid, tmp)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive == [], [p.cmdline()[:4] for p in alive]
    finally:
        stop(sweep)
    log = (tmp_path / "labrnn-sweep.log").read_text()
    lines = [line for line in log.splitlines() if line.strip()]
    assert lines[-1] == "labrnn: interrupted" and log.count("labrnn: interrupted") == 1, log
    assert "Traceback" not in log and "leaked" not in log and "Error" not in log, log
    kernel_files = [p.name for p in tmp.iterdir() if p.name.startswith("labrnn-kernel-") or
                    (p.suffix == ".json" and p.name.startswith(("kernel-", "tmp")))]
    assert kernel_files == []
    for rd in (d for d in reports.iterdir() if d.is_dir()):             # finished reports only, complete
        assert (rd / RunDir.REPORT).is_file() and (rd / RunDir.KEY).is_file(), sorted(p.name for p in rd.iterdir())


STUCK = """
import sys, time
from pathlib import Path
from labrnn.sweeps import cluster

def stuck(started):
    from labrnn.progress import bar
    bar(total=1, desc="", unit="", enabled=False).close()      # a worker's progress bars: never shown
    Path(started).touch()
    time.sleep(60)                                              # nothing stops this

with cluster.connect(None, 1) as client:
    future = client.submit(stuck, sys.argv[1])
    while not Path(sys.argv[1]).exists():
        time.sleep(0.1)
"""


def test_a_worker_killed_as_its_cluster_closes_leaves_no_semaphore(tmp_path):
    """A task that outlasts Dask's grace on close gets its worker killed (SIGKILL): nothing of the worker's is left
    for Python's resource tracker to warn about at exit (tqdm's default lock is a semaphore of its own)."""
    done = subprocess.run([sys.executable, "-c", STUCK, str(tmp_path / "started")], capture_output=True, text=True,
                          timeout=SLOW)
    assert done.returncode == 0 and "leaked" not in done.stderr, done.stderr


def test_the_embedded_cluster_has_one_blas_thread_per_worker_unless_told(monkeypatch):
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    with cluster.connect(None, 1) as client:
        found = list(client.run(lambda: (os.environ.get("OPENBLAS_NUM_THREADS"),
                                         os.environ.get("MKL_NUM_THREADS"))).values())
        assert found == [("1", "3")]
        assert cluster.usable_workers(client, print) is None
        link = cluster.dashboard_link(client)           # served when bokeh (optional) is installed
        has_bokeh = importlib.util.find_spec("bokeh") is not None
        assert (link is not None) == has_bokeh and (link is None or link.startswith("http://127.0.0.1:"))
    from dask.system import cpu_count
    assert cluster.cores() == cpu_count()


def test_make_sweep_passes_the_scheduler_on(corpus, tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES")}
    done = subprocess.run(["make", "-s", "-C", str(Path(__file__).resolve().parent.parent), "sweep",
                           f"SCHEDULER={address}", f"DATA={corpus}", "STEPS=100", "SEQ=8 12", "M=8",
                           f"RUN_DIR={tmp_path / 'r'}"], capture_output=True, text=True, env=env, timeout=SLOW)
    lines = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert done.returncode != 0 and lines == [f"labrnn sweep: error: cannot reach the Dask scheduler at {address}: "
                                              f"Timed out trying to connect to {address} after 5 s"]
    assert not (tmp_path / "r").exists()


# -- hostile schedulers, scheduler files and answers: one line, exit 2, nothing written, within the bound ----
LABRNN = str(BIN / "labrnn")
NO_MAKE = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES")}


@pytest.fixture
def silent_scheduler():
    """A port on 127.0.0.1 that accepts connections (the kernel completes them from the backlog) and never
    says a word; closed at the end of the test."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"


@pytest.fixture
def scheduler_alone():
    """A Dask scheduler in this process on 127.0.0.1, with `workers` worker threads (none by default)."""
    from distributed import LocalCluster
    started = []

    def make(workers: int = 0) -> str:
        started.append(LocalCluster(n_workers=workers, threads_per_worker=1, processes=False, protocol="tcp",
                                    host="127.0.0.1", dashboard_address=None, silence_logs=50))
        return started[-1].scheduler_address
    yield make
    for c in started:
        c.close(timeout=10)


def make_sweep(corpus, reports, *variables) -> tuple[subprocess.CompletedProcess, float]:
    """`make sweep` with these variables; what it did and the seconds it took."""
    t0 = time.monotonic()
    done = subprocess.run(["make", "-s", "-C", str(Path(__file__).resolve().parent.parent), "sweep", f"DATA={corpus}",
                           "STEPS=100", "SEQ=8 12", "M=8", f"RUN_DIR={reports}", *variables],
                          capture_output=True, text=True, env=NO_MAKE, timeout=SLOW)
    return done, time.monotonic() - t0


def one_error(stderr: str, command="labrnn sweep") -> str:
    """The one line of a refusal (make's own "Error 2" line aside), with no traceback anywhere."""
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    lines = [line for line in stderr.strip().splitlines() if not line.startswith("make")]
    assert len(lines) == 1 and lines[0].startswith(f"{command}: error: "), stderr
    return lines[0]


@pytest.mark.serial                                    # bounds wall time
def test_a_scheduler_that_accepts_and_never_answers_is_named_within_10_s(silent_scheduler, corpus, tiny_argv,
                                                                          tmp_path, capsys):
    t0 = time.monotonic()
    with pytest.raises(SystemExit) as exc:
        main(sweep_argv(corpus, tmp_path / "reports", tiny_argv, "--scheduler", silent_scheduler))
    assert exc.value.code == 2 and time.monotonic() - t0 < 10
    line = one_error(capsys.readouterr().err)
    assert f"cannot reach the Dask scheduler at {silent_scheduler}: it accepted the connection but did not " \
           f"answer within {cluster.ANSWER_TIMEOUT} s" in line
    done, seconds = make_sweep(corpus, tmp_path / "reports", f"SCHEDULER={silent_scheduler}")
    assert done.returncode == 2 and silent_scheduler in one_error(done.stderr)
    assert seconds < 10 + SLOW / 60          # docs/sweeps-and-clusters.md's 10 s, and Python's start on a loaded machine
    assert not (tmp_path / "reports").exists()


@pytest.mark.serial                                    # bounds wall time
def test_a_scheduler_without_workers_is_waited_on_for_worker_timeout(scheduler_alone, corpus, tiny_argv, tmp_path,
                                                                     capsys):
    address = scheduler_alone()
    t0 = time.monotonic()
    with pytest.raises(SystemExit) as exc:
        main(sweep_argv(corpus, tmp_path / "reports", tiny_argv, "--scheduler", address, "--worker-timeout", "1"))
    assert exc.value.code == 2 and time.monotonic() - t0 < 10
    waited, line = capsys.readouterr().err.strip().splitlines()
    assert waited == f"waiting up to 1 s for the first worker to join the scheduler at {address}"
    assert line == f"labrnn sweep: error: no worker joined the scheduler at {address} within 1 s; start workers " \
                   "there (WORKER_TIMEOUT waits longer)"
    done, _ = make_sweep(corpus, tmp_path / "reports", f"SCHEDULER={address}", "WORKER_TIMEOUT=1")
    assert done.returncode == 2 and done.stderr.startswith("waiting up to 1 s")
    assert "no worker joined" in one_error(done.stderr.split("\n", 1)[1])
    assert not (tmp_path / "reports").exists()


@pytest.mark.serial                                    # bounds wall time
@pytest.mark.parametrize("address, reason", [
    ("foo", "missing port number"), ("tcp://", "missing port number"), ("xyz://127.0.0.1:1", "unknown address scheme"),
    ("127.0.0.1:notaport", "invalid literal"), ("tcp://[::1", "invalid address"), ("tcp://127.0.0.1:99999", "port 99999"),
    ("tcp://127.0.0.1:８７８６", "printable ASCII"), ("tcp://127.0.0.1:1\x1b[2J", "printable ASCII")])
def test_a_malformed_address_is_one_line_at_once_and_nothing_after(address, reason, corpus, tiny_argv, tmp_path):
    t0 = time.monotonic()
    done = subprocess.run([LABRNN, *sweep_argv(corpus, tmp_path / "reports", tiny_argv, "--scheduler", address)],
                          capture_output=True, text=True, timeout=SLOW)
    assert done.returncode == 2 and time.monotonic() - t0 < 10 + SLOW / 60
    line = one_error(done.stderr)                   # nothing after it: no "Exception ignored ... TimeoutError"
    assert "is no Dask scheduler address" in line and reason in line and "\x1b" not in line
    assert not (tmp_path / "reports").exists()


def test_a_malformed_address_through_make(corpus, tmp_path):
    done, _ = make_sweep(corpus, tmp_path / "reports", "SCHEDULER=foo")
    assert done.returncode == 2 and "'foo' is no Dask scheduler address" in one_error(done.stderr)
    assert not (tmp_path / "reports").exists()


def test_a_blank_scheduler_is_refused_and_make_strips_it_to_the_default(corpus, tiny_argv, tmp_path, capsys):
    for blank in [" ", "", "\t"]:
        with pytest.raises(SystemExit) as exc:
            main(sweep_argv(corpus, tmp_path / "reports", tiny_argv, f"--scheduler={blank}"))
        assert exc.value.code == 2
        assert "scheduler is blank" in one_error(capsys.readouterr().err)
    shown = subprocess.run(["make", "-n", "-s", "-C", str(Path(__file__).resolve().parent.parent), "sweep",
                            "SCHEDULER= "], capture_output=True, text=True, env=NO_MAKE, timeout=SLOW).stdout
    assert shown.rstrip().endswith("--from-make 'SCHEDULER='")      # empty: the default, as documented
    assert not (tmp_path / "reports").exists()


SCHEDULER_FILES = {
    "/dev/zero": ("/dev/zero", "not a regular file"),
    "a FIFO": ("fifo", "not a regular file"),
    "a directory": (".", "not a regular file"),
    "too big": ("big.json", "more than 65,536 bytes"),
    "not JSON": ("text.json", "JSONDecodeError"),
    "no address": ("empty.json", "KeyError"),
    "an address not text": ("number.json", "its address is int, not text"),
    "a malformed address": ("foo.json", "'foo' is no Dask scheduler address"),
}


@pytest.fixture
def scheduler_files(tmp_path):
    d = tmp_path / "files"
    d.mkdir()
    os.mkfifo(d / "fifo")
    (d / "big.json").write_text(json.dumps({"address": "tcp://127.0.0.1:1", "pad": "x" * 70_000}))
    (d / "text.json").write_text("address: tcp://127.0.0.1:1")
    (d / "empty.json").write_text("{}")
    (d / "number.json").write_text('{"address": 8786}')
    (d / "foo.json").write_text('{"address": "foo"}')
    return d


@pytest.mark.parametrize("case", SCHEDULER_FILES)
def test_a_scheduler_file_is_read_as_a_corpus_is(case, scheduler_files, corpus, tiny_argv, tmp_path, capsys):
    name, reason = SCHEDULER_FILES[case]
    path = name if name.startswith("/") else str(scheduler_files / name)
    with pytest.raises(SystemExit) as exc:
        main(sweep_argv(corpus, tmp_path / "reports", tiny_argv, "--scheduler-file", path))
    line = one_error(capsys.readouterr().err)
    assert exc.value.code == 2 and reason in line
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("name", ["/dev/zero", "fifo"])
def test_a_device_or_fifo_as_scheduler_file_through_make(name, scheduler_files, corpus, tmp_path):
    done, seconds = make_sweep(corpus, tmp_path / "reports", f"SCHEDULER_FILE={scheduler_files / name}")
    assert done.returncode == 2 and "not a regular file" in one_error(done.stderr) and seconds < SLOW / 2
    assert not (tmp_path / "reports").exists()


def hostile_answer(extra: dict):
    """task.run as a worker that adds `extra` to a run directory's files (a callable of the task: its bytes)."""
    from labrnn.sweeps import task

    def run(t, files):
        return task.Outcome({"run.json": b"{}", **{n: make(t) for n, make in extra.items()}}, 0.1, True, "hostile")
    return run


@pytest.mark.parametrize("extra, message", [
    ({"notes.txt": lambda t: b"x"}, "a worker returned the file name 'notes.txt', which is no file of a run directory"),
    ({"failed/report.html": lambda t: b"x"}, "the file name 'failed/report.html', which is no file"),
    ({"report.pdf": lambda t: bytes(task_most(t) + 1)}, "MiB, more than a run of these settings makes (at most ")])
def test_a_workers_answer_beyond_its_settings_is_refused_in_one_line(extra, message, scheduler_alone, corpus,
                                                                   tiny_argv, tmp_path, capsys, monkeypatch):
    from labrnn.sweeps import task
    monkeypatch.setattr(task, "run", hostile_answer(extra))
    address = scheduler_alone(1)
    reports = tmp_path / "reports"
    assert main(sweep_argv(corpus, reports, tiny_argv, "--scheduler", address, "--seq", "8", "--eta", "0.1")) == 1
    err = capsys.readouterr().err
    failed = [line for line in err.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and message in failed[0] and failed[0].endswith("nothing it returned was written")
    assert "Traceback" not in err
    written = [p for p in reports.rglob("*") if p.is_file() and p.name not in (".labrnn", ".lock")]
    assert written == []                        # the run's directory was made for it; nothing of the answer


HOSTILE_WORKER = """import labrnn.sweeps.task as task
def run(t, files):          # a worker whose answer holds a file no run directory has
    return task.Outcome({"run.json": b"{}", "notes.txt": b"x"}, 0.1, True, "hostile")
task.run = run
"""


def test_a_workers_hostile_answer_through_make(make_cluster, corpus, tmp_path):
    hostile = tmp_path / "hostile_worker.py"
    hostile.write_text(HOSTILE_WORKER)
    c = make_cluster(1, preload=hostile)
    done, _ = make_sweep(corpus, tmp_path / "reports", f"SCHEDULER={c.address}")
    failed = [line for line in done.stderr.splitlines() if "FAILED" in line]
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(failed) == 2    # SEQ="8 12"
    assert all(line.endswith("a worker returned the file name 'notes.txt', which is no file of a run directory; "
                             "nothing it returned was written") for line in failed)
    assert [p for p in (tmp_path / "reports").rglob("*") if p.is_file() and p.name not in (".labrnn", ".lock")] == []


def task_most(t) -> int:
    from labrnn import load_corpus
    from labrnn.sweeps import task
    text = load_corpus(t.settings.data)
    return task.most_bytes(t.settings, text.size, text.K)
