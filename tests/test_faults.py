"""Faults injected into the report pipeline: a full disk, a dying kernel, a damaged cache,
a corpus that changes. Each ends in a clear message, nothing half-written under a final
name, and the previous good report untouched."""
import asyncio
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from labrnn import iorw
from labrnn.report import pipeline
from labrnn.cli import main
from labrnn.report.run import ReportError
from labrnn.report.execute import NOTEBOOKS, notebook_dir, shut_down_idle_kernels


@pytest.fixture(scope="module")
def tiny_flags(tiny_argv):
    return tiny_argv()


@pytest.fixture(scope="module")
def made(genesis, tiny_report):
    """A corpus and one finished report (the session's tiny report: copy it to change it)."""
    return genesis, tiny_report[0]


@pytest.fixture
def good(made, tmp_path):
    """A copy of the finished report for one test: (corpus path, report dir, report bytes)."""
    corpus, made_dir = made
    run_dir = tmp_path / "reports" / "run"
    shutil.copytree(made_dir, run_dir)
    return corpus, run_dir, (run_dir / "report.html").read_bytes()


def _leftovers(run_dir: Path) -> list[str]:
    return [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".build-")]


def test_disk_full_while_writing_the_report(good, tiny_flags, monkeypatch, capsys):
    corpus, run_dir, before = good
    real_fsync = iorw.os.fsync

    def full(fd):
        if Path(f"/proc/self/fd/{fd}").resolve().name.startswith(".report.html"):
            raise OSError(errno.ENOSPC, "No space left on device", str(run_dir / "report.html"))
        return real_fsync(fd)

    monkeypatch.setattr(iorw.os, "fsync", full)
    code = main(["report", *tiny_flags, "--data", str(corpus), "--run-dir", str(run_dir), "--force"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and "Traceback" not in "\n".join(err)
    assert "No space left on device" in err[-1] and "report.html" in err[-1]
    assert (run_dir / "report.html").read_bytes() == before
    assert _leftovers(run_dir) == []


def _notebooks_with(tmp_path: Path, name: str, cell: str, at: int | None = None) -> Path:
    """A copy of the report's notebooks with one code cell inserted into notebook `name` (mid-way by default)."""
    notebooks = tmp_path / "notebooks"
    shutil.copytree(notebook_dir(), notebooks)
    nb = nbformat.read(notebooks / name, as_version=4)
    nb.cells.insert(len(nb.cells) // 2 if at is None else at, nbformat.v4.new_code_cell(cell))
    nbformat.write(nb, notebooks / name)
    return notebooks


def _make_report(tiny, run_dir: Path, notebooks: Path, **changes) -> Path:
    """The tiny report, made in this process from the given notebooks."""
    return pipeline.make_report(tiny(run_dir=run_dir, **changes), notebooks=notebooks, log=lambda _: None,
                                progress=False).report


def test_kernel_dies_mid_run(good, tiny, tmp_path, capsys):
    corpus, run_dir, before = good
    notebooks = _notebooks_with(tmp_path, "3-text-evolution.ipynb", "import os\nos._exit(1)  # the kernel dies")
    with pytest.raises(ReportError, match=r"notebook 3-text-evolution.ipynb failed.*no report written"):
        _make_report(tiny, run_dir, notebooks)
    assert (run_dir / "report.html").read_bytes() == before
    assert _leftovers(run_dir) == []


def test_kernels_talk_over_their_own_unix_sockets(good, tiny, tmp_path, monkeypatch):
    """Over TCP, kernels started side by side (a sweep) can race for a port and die at start."""
    corpus, run_dir, _ = good
    own = Path(tempfile.mkdtemp(prefix="lk"))      # short: a socket path has at most 107 characters
    monkeypatch.setattr(tempfile, "tempdir", str(own))       # this report's sockets, apart from other processes'
    notebooks = _notebooks_with(tmp_path, "1-gradient-check.ipynb",
                                "from ipykernel.kernelapp import IPKernelApp\n"
                                "app = IPKernelApp.instance()\n"
                                "assert app.transport == 'ipc' and 'labrnn-kernel-' in app.ip, (app.transport, app.ip)",
                                at=1)
    shut_down_idle_kernels()                              # this report starts its own kernel, in `own`
    _make_report(tiny, run_dir, notebooks)
    assert list(own.iterdir())                            # kept for this process's next report
    shut_down_idle_kernels()
    left = list(own.iterdir())
    own.rmdir() if not left else None
    assert left == []                                     # the kernels' socket files are gone with them


def test_one_kernel_runs_the_notebooks_each_in_a_namespace_of_its_own(good, tiny, tmp_path):
    """A report starts one kernel, not one per notebook (start-up and imports paid once), and what a notebook
    defines is gone when the next one runs, as when each is opened on its own."""
    corpus, run_dir, _ = good
    probe = 'import os\nprint("kernel", os.getpid(), "mine" in globals())\nmine = 1'
    notebooks = _notebooks_with(tmp_path, NOTEBOOKS[0], probe, at=1)
    for name in NOTEBOOKS[1:]:
        nb = nbformat.read(notebooks / name, as_version=4)
        nb.cells.insert(1, nbformat.v4.new_code_cell(probe))
        nbformat.write(nb, notebooks / name)
    _make_report(tiny, run_dir, notebooks)
    seen = [nbformat.read(run_dir / name, as_version=4).cells[1].outputs[0].text.split() for name in NOTEBOOKS]
    assert len({pid for _, pid, _ in seen}) == 1, seen
    assert [defined for _, _, defined in seen] == ["False"] * 4


def test_the_kernel_has_drawn_a_figure_before_the_first_notebook_runs(good, tiny, tmp_path):
    """A new kernel imports what the notebooks import and draws a throwaway figure as it starts (while the run
    trains), and leaves no name of that behind."""
    corpus, run_dir, _ = good
    shut_down_idle_kernels()                              # a new kernel, not one an earlier test left warm
    probe = ('import sys\nprint(sorted({"labrnn.report.plots", "matplotlib.backends.backend_agg"} & set(sys.modules)),'
             ' [n for n in ("_p", "_r", "_n", "plots", "render", "run") if n in globals()])')
    _make_report(tiny, run_dir, _notebooks_with(tmp_path, NOTEBOOKS[0], probe, at=0))
    seen = nbformat.read(run_dir / NOTEBOOKS[0], as_version=4).cells[0].outputs[0].text.strip()
    assert seen == "['labrnn.report.plots', 'matplotlib.backends.backend_agg'] []"


def test_the_kernel_keeps_no_history(good, tiny, tmp_path, monkeypatch):
    """IPython's history file is shared by every kernel of the user's, and the cells each notebook counts from 1
    again would collide there (an error printed into a cell's output): the notebooks' kernel writes none."""
    corpus, run_dir, _ = good
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    shut_down_idle_kernels()                              # a new kernel, which sees IPYTHONDIR
    probe = "print(get_ipython().history_manager.enabled)"
    _make_report(tiny, run_dir, _notebooks_with(tmp_path, NOTEBOOKS[0], probe, at=0))
    shut_down_idle_kernels()
    assert nbformat.read(run_dir / NOTEBOOKS[0], as_version=4).cells[0].outputs[0].text == "False\n"
    assert not list((tmp_path / "ipython").rglob("history.sqlite*"))


def _probed(tmp_path: Path) -> Path:
    """The notebooks with a first cell that prints its kernel's process, whether it sees a name an earlier
    notebook defined, and its directory."""
    probe = 'import os\nprint("kernel", os.getpid(), "mine" in globals(), os.getcwd())\nmine = 1'
    probed = tmp_path / "probed"
    shutil.copytree(notebook_dir(), probed)
    for name in NOTEBOOKS:
        nb = nbformat.read(probed / name, as_version=4)
        nb.cells.insert(1, nbformat.v4.new_code_cell(probe))
        nbformat.write(nb, probed / name)
    return probed


def test_a_process_s_next_report_reuses_its_kernel_reset_and_moved(good, tiny, tmp_path):
    """Reports made one after another in one process (a sweep's worker) share a kernel, which each finds with
    no name of the last, cells counted from 1, in its own run directory; a report that failed leaves no kernel
    behind for the next, and one whose directory is gone by then (a sweep's worker) does."""
    corpus, run_dir, _ = good
    probed = _probed(tmp_path)
    seen = {}
    for seed in (2, 3):
        other = tmp_path / f"seed {seed}"
        _make_report(tiny, other, probed, seed=seed)
        seen[seed] = [nbformat.read(other / name, as_version=4) for name in NOTEBOOKS]
        shutil.rmtree(other)                # as a sweep's worker removes a report's scratch directory
        lines = [nb.cells[1].outputs[0].text.split(maxsplit=3) for nb in seen[seed]]
        assert [(defined, cwd.strip()) for _, _, defined, cwd in lines] == [("False", str(other))] * 4, lines
        for nb in seen[seed]:
            counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
            assert counts == list(range(1, len(counts) + 1)), counts
    pid = {seed: nbs[0].cells[1].outputs[0].text.split()[1] for seed, nbs in seen.items()}
    assert pid[2] == pid[3]
    fails = _notebooks_with(tmp_path / "fails", NOTEBOOKS[2], "raise RuntimeError('a cell fails')")
    with pytest.raises(ReportError, match="a cell fails"):
        _make_report(tiny, run_dir, fails)          # its kernel lives on, in whatever state the cell left it
    _make_report(tiny, tmp_path / "after", probed, seed=4)
    after = nbformat.read(tmp_path / "after" / NOTEBOOKS[0], as_version=4).cells[1].outputs[0].text.split()[1]
    assert after != pid[2]


def test_a_client_is_ready_on_its_own_requests_answer_and_a_kernel_that_cannot_answer_is_named(tmp_path):
    """A notebook's client is ready once the kernel has answered its kernel_info request on shell and IOPub (the
    library then waits for 0.2 s of silence, per notebook): answers to earlier requests are passed over and none of
    its own is left behind; a kernel that stops or dies is named in the library's words (execute.py reads them)."""
    from jupyter_client.utils import run_sync

    from labrnn.report.execute import _shutdown, _start
    km = _start(tmp_path)

    async def ready(timeout=60):
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=timeout)              # the kernel's start-up
            kc.kernel_info(), kc.kernel_info()                    # answers nobody waits for
            await asyncio.sleep(0.5)
            await kc.wait_for_ready(timeout=timeout)
            left = []
            for channel in (kc.shell_channel, kc.iopub_channel):
                try:
                    left.append(await channel.get_msg(timeout=0.5))
                except Exception:
                    pass
            return left
        finally:
            kc.stop_channels()
    try:
        assert run_sync(ready)() == []
        pid = km.provisioner.process.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(RuntimeError, match="Kernel didn't respond in 2 seconds"):
                run_sync(ready)(timeout=2)
        finally:
            os.kill(pid, signal.SIGCONT)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(RuntimeError, match="Kernel died before replying to kernel_info"):
            run_sync(ready)(timeout=30)
    finally:
        _shutdown(km)


@pytest.mark.parametrize("damage", ["truncated npz", "invalid run.json"])
def test_damaged_cache_is_trained_again(good, tiny_flags, damage, capsys):
    corpus, run_dir, _ = good
    if damage == "truncated npz":
        data = (run_dir / "run.npz").read_bytes()
        (run_dir / "run.npz").write_bytes(data[: len(data) // 3])
    else:
        (run_dir / "run.json").write_text('{"params": ')
    assert main(["report", *tiny_flags, "--data", str(corpus), "--run-dir", str(run_dir)]) == 0
    assert "damaged; training it again" in capsys.readouterr().err
    assert json.loads((run_dir / "run.json").read_text())["steps_done"] == 300
    assert (run_dir / "report.html").exists() and _leftovers(run_dir) == []


def test_changed_corpus_is_not_reused(genesis_text, tiny_flags, tmp_path, monkeypatch, capsys):
    corpus = tmp_path / "light.txt"
    corpus.write_text(genesis_text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)                         # reports go to ./reports/<name>
    argv = ["report", *tiny_flags, "--data", str(corpus)]
    assert main(argv) == 0
    first = Path(capsys.readouterr().out.strip().splitlines()[-1])
    before = first.read_bytes()
    corpus.write_text(genesis_text.replace("light", "night"), encoding="utf-8")
    assert main(argv) == 0
    second = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert first.parent != second.parent
    sha = [json.loads((p.parent / "run.json").read_text())["corpus"]["sha256"] for p in (first, second)]
    assert sha[0] != sha[1] and sha[0][:8] in first.parent.name and sha[1][:8] in second.parent.name
    assert first.read_bytes() == before


def test_two_identical_reports_at_once(made, tiny_flags, tmp_path):
    """One trains, the other waits on the run directory's lock and reuses the run; both end with a report."""
    corpus, _ = made
    run_dir = tmp_path / "reports" / "same"
    argv = [sys.executable, "-m", "labrnn.cli", "report", *tiny_flags, "--steps", "3000", "--sample-until", "3000",
            "--data", str(corpus), "--run-dir", str(run_dir)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert sum("reusing the run" in err for _, err in results) == 1
    record = json.loads((run_dir / "run.json").read_text())
    assert record["steps_done"] == 3000 and "<html" in (run_dir / "report.html").read_text()[:500].lower()
    assert _leftovers(run_dir) == []


def test_diverged_run_still_renders(made, tiny_flags, tmp_path, capsys):
    corpus, _ = made
    run_dir = tmp_path / "diverged"
    argv = ["report", *tiny_flags, "--eta", "50", "--steps", "3000", "--sample-every", "1000", "--sample-until", "3000",
            "--data", str(corpus), "--run-dir", str(run_dir)]
    assert main(argv) == 0
    assert "training diverged at step 2,000" in capsys.readouterr().err
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    top = page[:page.index("Run summary")]
    assert '<p class="warning">Training diverged at step 2,000' in top
    record = json.loads((run_dir / "run.json").read_text())
    assert record["diverged"]["step"] == 2000 and max(s["step"] for s in record["samples"]) <= 2000


def test_a_killed_build_is_cleaned_up(good, tiny_flags):
    corpus, run_dir, _ = good
    orphan = run_dir / ".build-999999999-abc"           # no such process
    orphan.mkdir()
    (orphan / "2-training.ipynb").write_text("{}")
    assert main(["report", *tiny_flags, "--data", str(corpus), "--run-dir", str(run_dir)]) == 0
    assert not orphan.exists() and _leftovers(run_dir) == []


@pytest.mark.parametrize("prefer_env", [None, "0"])
def test_a_decoy_python3_kernelspec_changes_nothing(good, tiny, tmp_path, monkeypatch, prefer_env):
    """A course image's or conda base's `python3` kernelspec, earlier on JUPYTER_PATH, is never used."""
    corpus, run_dir, _ = good
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(bare / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (decoy)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    if prefer_env is not None:
        monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", prefer_env)
    from jupyter_client.kernelspec import KernelSpecManager
    assert KernelSpecManager().get_kernel_spec("python3").argv[0] == str(bare / "bin" / "python")  # it is a decoy
    notebooks = _notebooks_with(tmp_path, "1-gradient-check.ipynb",
                                f"import sys\nassert sys.executable == {sys.executable!r}, sys.executable", at=1)
    assert _make_report(tiny, run_dir, notebooks).exists()


@pytest.mark.serial                                    # bounds wall time
def test_a_cell_past_its_time_limit_fails_its_notebook(good, tiny, tmp_path):
    corpus, run_dir, before = good
    notebooks = _notebooks_with(tmp_path, "2-training.ipynb", "import time\ntime.sleep(60)  # a kernel that hangs")
    t0 = time.monotonic()
    with pytest.raises(ReportError, match=r"notebook 2-training.ipynb failed: cell In \[\d+\] "
                                                r"\('import time'\) did not finish within 3 s \(CELL_TIMEOUT"):
        _make_report(tiny, run_dir, notebooks, cell_timeout=3)
    assert time.monotonic() - t0 < 45
    assert (run_dir / "report.html").read_bytes() == before
    assert _leftovers(run_dir) == []


@pytest.mark.serial                                    # bounds wall time
def test_a_kernel_that_dies_between_two_notebooks_fails_the_next_within_seconds(good, tiny, tmp_path):
    """A kernel that dies as the next notebook's reset reaches it (as `stop_kernels` kills a closing sweep
    worker's) fails that notebook within seconds, not at the reset's 60 s limit."""
    corpus, run_dir, before = good
    last = len(nbformat.read(notebook_dir() / NOTEBOOKS[0], as_version=4).cells)
    notebooks = _notebooks_with(tmp_path, NOTEBOOKS[0], "import os\n"
                                "get_ipython().events.register('pre_execute', lambda: os._exit(1))  # the next dies",
                                at=last)
    t0 = time.monotonic()
    with pytest.raises(ReportError, match="notebook 2-training.ipynb failed: RuntimeError: the kernel died"):
        _make_report(tiny, run_dir, notebooks)
    assert time.monotonic() - t0 < 30
    assert (run_dir / "report.html").read_bytes() == before
    assert _leftovers(run_dir) == []


@pytest.fixture
def users_dir(tmp_path):
    """A directory of the user's, with files labrnn's names would clash with."""
    mine = tmp_path / "mine"
    for name in ["failed/keep.txt", ".build-1-x/keep.txt", "report.html", "run.json", "notes.txt"]:
        (mine / name).parent.mkdir(parents=True, exist_ok=True)
        (mine / name).write_text(f"the user's {name}")
    (tmp_path / "index.html").write_text("the user's index")
    return mine


def _files(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_directory_of_the_users_is_refused_and_left_as_it_was(users_dir, tiny_flags, genesis, capsys):
    before = _files(users_dir.parent)
    code = _exit_code(["report", *tiny_flags, "--data", str(genesis), "--run-dir", str(users_dir)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "holds files labrnn did not write" in err[0]
    assert _files(users_dir.parent) == before


@pytest.mark.parametrize("where", ["/", "~", "project"])
def test_the_root_home_and_project_directories_are_refused(where, tiny_flags, genesis, capsys):
    path = {"/": "/", "~": str(Path.home()), "project": str(Path(__file__).resolve().parent.parent)}[where]
    assert _exit_code(["report", *tiny_flags, "--data", str(genesis), "--run-dir", path]) == 2
    assert "the root, the home directory or the project's directory" in capsys.readouterr().err


def test_a_new_directory_in_the_users_gets_no_index_in_the_parent(users_dir, tiny, tmp_path):
    messages = []
    result = pipeline.make_report(tiny(run_dir=users_dir / "new"), log=messages.append)
    assert result.report.exists() and (users_dir / "new" / ".labrnn").exists()
    assert (tmp_path / "index.html").read_text() == "the user's index" and not (users_dir / "index.html").exists()
    assert any("no index.html written in" in m for m in messages)


def test_a_run_from_before_the_mark_is_adopted(made, tiny_flags, tmp_path):
    corpus, made_dir = made
    old = tmp_path / "old"
    shutil.copytree(made_dir, old)
    (old / ".labrnn").unlink()
    assert main(["report", *tiny_flags, "--data", str(corpus), "--run-dir", str(old)]) == 0
    assert (old / ".labrnn").exists()


def _exit_code(argv) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.serial                                    # bounds wall time (an orphaned kernel: 10 s)
@pytest.mark.parametrize("signals", [[signal.SIGTERM], [signal.SIGINT, signal.SIGINT]])
def test_a_stopped_report_leaves_nothing_behind(made, tiny_flags, signals):
    """SIGTERM, or a second Ctrl-C, while the notebooks run: no socket, no staging directory, no report."""
    corpus, made_dir = made
    tmp = Path(tempfile.mkdtemp(prefix="lk"))          # short: a socket path has at most 107 characters
    run_dir = tmp / "run"
    proc = subprocess.Popen([sys.executable, "-m", "labrnn.cli", "report", *tiny_flags, "--data", str(corpus),
                             "--run-dir", str(run_dir)], env={**os.environ, "TMPDIR": str(tmp)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120                   # the kernels start while it trains; the notebooks, in staging
    while not (list(tmp.glob("labrnn-kernel-*")) and list(run_dir.glob(".build-*"))) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp.glob("labrnn-kernel-*")) and list(run_dir.glob(".build-*")), "the notebooks should have started"
    for sig in signals:
        proc.send_signal(sig)
        time.sleep(0.2)
    _, err = proc.communicate(timeout=120)
    until = time.monotonic() + 10                       # an orphaned kernel notices its parent is gone
    while list(tmp.glob("labrnn-kernel-*")) and time.monotonic() < until:
        time.sleep(0.1)
    assert proc.returncode in (130, -signal.SIGINT) and "Traceback" not in err, err   # a second Ctrl-C may end it
    assert list(tmp.glob("labrnn-kernel-*")) == [] and not (run_dir / "report.html").exists()
    assert _leftovers(run_dir) == []
    shutil.rmtree(tmp)
