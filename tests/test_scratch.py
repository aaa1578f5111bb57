"""labrnn.scratch: a scratch directory is locked while in use and removed after; one whose process was killed is
removed by the next user of that prefix, whatever process ids have been reused since; any other is left alone."""
import os
import signal
import subprocess
import sys

import pytest

from labrnn import scratch

pytestmark = pytest.mark.fast
HOLD = """import sys, time
from labrnn import scratch
with scratch.directory(sys.argv[1], sys.argv[2]) as path:
    print(path, flush=True)
    time.sleep(float(sys.argv[3]))
"""


def holder(prefix: str, parent, seconds: float) -> tuple[subprocess.Popen, str]:
    """A process inside `scratch.directory` for `seconds`; it and the directory it holds."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, prefix, str(parent), str(seconds)], stdout=subprocess.PIPE,
                            text=True)
    return proc, proc.stdout.readline().strip()


def test_the_directory_is_locked_in_use_and_removed_after_even_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with scratch.directory("labrnn-x-", tmp_path) as path:
            assert path.parent == tmp_path and path.name.startswith("labrnn-x-") and path.is_dir()
            (path / "work").write_text("y")
            with scratch.directory("labrnn-x-", tmp_path) as other:     # in use: the second one's sweep keeps it
                assert path.is_dir() and other != path
            raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_a_killed_users_directory_goes_a_living_users_stays(tmp_path):
    killed, stale = holder("labrnn-task-", tmp_path, 60)
    alive, living = holder("labrnn-task-", tmp_path, 60)
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        assert os.path.isdir(stale)                 # SIGKILL ran no clean-up: the directory stayed
        with scratch.directory("labrnn-task-", tmp_path) as mine:
            assert not os.path.exists(stale) and os.path.isdir(living) and mine.is_dir()
    finally:
        alive.kill()
        alive.wait(timeout=30)
    assert scratch.sweep("labrnn-task-", tmp_path) == [tmp_path / os.path.basename(living)]


def test_a_free_lock_decides_not_a_process_id(tmp_path):
    """A directory without a lock file (its process died before taking it), or whose lock file names this very
    process's id, is stale all the same: only the lock counts."""
    (tmp_path / "labrnn-task-early").mkdir()
    (tmp_path / "labrnn-task-pid").mkdir()
    (tmp_path / "labrnn-task-pid" / ".lock").write_text(str(os.getpid()))
    with scratch.directory("labrnn-task-", tmp_path) as mine:
        assert list(tmp_path.iterdir()) == [mine]


def test_other_prefixes_files_and_links_are_left_alone(tmp_path):
    keep = tmp_path / "keep"
    keep.mkdir()
    (tmp_path / "labrnn-child-other").mkdir()                       # another prefix
    (tmp_path / "labrnn-task-file").write_text("a file of that name")
    (tmp_path / "labrnn-task-link").symlink_to(keep)                # a link to a directory of the user's
    (tmp_path / "labrnn-task-stale").mkdir()
    with scratch.directory("labrnn-[t]ask-", tmp_path):              # a prefix is no pattern: [t] is no t
        assert (tmp_path / "labrnn-task-stale").exists()
    with scratch.directory("labrnn-task-", tmp_path):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep", "labrnn-child-other", "labrnn-task-file",
                                                          "labrnn-task-link"]


def test_two_processes_sweeping_at_once_remove_only_the_stale(tmp_path):
    for i in range(20):
        (tmp_path / f"labrnn-task-stale{i}").mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", HOLD, "labrnn-task-", str(tmp_path), "3"],
                              stdout=subprocess.PIPE, text=True) for _ in range(3)]     # started together
    try:
        paths = {proc.stdout.readline().strip() for proc in procs}
        assert sorted(str(p) for p in tmp_path.iterdir()) == sorted(paths) and len(paths) == 3
    finally:
        for proc in procs:
            assert proc.wait(timeout=60) == 0
    assert list(tmp_path.iterdir()) == []
