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

from labrnn import RunDir, cache, cluster, load_corpus
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
    from labrnn import task
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
    other.write_text("import labrnn.cache\nlabrnn.cache.numerics_fingerprint = lambda: '0123456789abcdef'\n")
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
