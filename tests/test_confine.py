"""labrnn/student/confine.py on its own: a process confined by it, probed from the inside (one child for all probes).

Each probe tries one thing a hostile file would try and records whether the kernel refused it; a canary file
and listeners on TCP, UDP and a Unix socket outside the process show nothing got through.  A layer this
system lacks skips its probes, except under CI=true, where it fails.
"""
import importlib.util
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CONFINE = Path(__file__).resolve().parent.parent / "labrnn" / "student" / "confine.py"
spec = importlib.util.spec_from_file_location("_confine_under_test", CONFINE)
confine = importlib.util.module_from_spec(spec)
spec.loader.exec_module(confine)

PROBES = textwrap.dedent('''
    import importlib.util, json, os, signal, socket, sys, threading
    spec = importlib.util.spec_from_file_location("c", sys.argv[1])
    c = importlib.util.module_from_spec(spec); spec.loader.exec_module(c)
    import numpy as np
    scratch, canary, tcp, udp, unix, parent = sys.argv[2:8]
    status = os.open("/proc/self/status", os.O_RDONLY)       # opened before, read after confinement
    report = c.confine(scratch, c.needed(), memory=2 << 30, cpu=60, file_size=1 << 20, open_files=64,
                       parent=int(parent))
    def probe(f):
        try:
            f()
            return "allowed"
        except BaseException as err:
            return type(err).__name__
    def tcp_send():
        s = socket.create_connection(("127.0.0.1", int(tcp)), timeout=2); s.sendall(b"secret")
    def udp_send():
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"secret", ("127.0.0.1", int(udp)))
    def unix_send():
        s = socket.socket(socket.AF_UNIX); s.connect(unix); s.sendall(b"secret")
    def abstract():
        s = socket.socket(socket.AF_UNIX); s.bind("\\0labrnn-test")
    def thread():
        out = []
        t = threading.Thread(target=lambda: out.append(np.linalg.svd(np.eye(30))[1].sum())); t.start(); t.join()
        assert out == [30.0]
    def write_scratch():
        with open(os.path.join(scratch, "ok"), "w") as fh:
            fh.write("x")
    results = {
        "tcp": probe(tcp_send), "udp": probe(udp_send), "unix": probe(unix_send), "abstract": probe(abstract),
        "socketpair": probe(socket.socketpair), "fork": probe(os.fork),
        "exec": probe(lambda: os.execv(sys.executable, [sys.executable, "-c", "pass"])),
        "subprocess": probe(lambda: __import__("subprocess").run(["true"])),
        "read canary": probe(lambda: open(canary).read()),
        "read labrnn": probe(lambda: open(sys.argv[1]).read()),
        "list site-packages": probe(lambda: os.listdir(os.path.dirname(os.path.dirname(np.__file__)))),
        "write canary": probe(lambda: open(canary, "a").write("x")),
        "unlink canary": probe(lambda: os.unlink(canary)),
        "signal parent": probe(lambda: os.kill(int(parent), 0)),
        "killpg parent": probe(lambda: os.killpg(os.getpgid(int(parent)), 0)),
        "6 GB": probe(lambda: np.zeros(6 * 10**9 // 8)),
        "thread": probe(thread), "write scratch": probe(write_scratch),
        "big file": probe(lambda: open(os.path.join(scratch, "big"), "wb").write(b"x" * (2 << 20))),
    }
    lines = os.pread(status, 1 << 16, 0).decode().splitlines()
    caps = dict(line.split(":", 1) for line in lines if line.startswith("Cap"))
    print(json.dumps({"report": report, "results": results, "caps": {k: int(v, 16) for k, v in caps.items()}}))
''')


def _needs(layer: str) -> None:
    missing = confine.available()
    if layer in missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{layer} is missing under CI: {missing[layer]}")
        pytest.skip(f"this system lacks {layer}: {missing[layer]}")


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    """The probes' results, and what the listeners and the canary saw."""
    home = tmp_path_factory.mktemp("home")
    scratch = tmp_path_factory.mktemp("scratch")
    canary = home / "canary.txt"
    canary.write_text("intact")
    tcp = socket.create_server(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(home / "listener.sock"))
    unix.listen()
    for s in (tcp, udp, unix):
        s.setblocking(False)
    done = subprocess.run([sys.executable, "-I", "-c", PROBES, str(CONFINE), str(scratch), str(canary),
                           str(tcp.getsockname()[1]), str(udp.getsockname()[1]), str(home / "listener.sock"),
                           str(os.getpid())], capture_output=True, text=True, timeout=120,
                          env={"OPENBLAS_NUM_THREADS": "1", "HOME": str(home)}, start_new_session=True)
    assert done.returncode == 0, done.stderr
    received = []
    for s in (tcp, unix):
        try:
            conn, _ = s.accept()
            received.append(conn.recv(100))
        except BlockingIOError:
            pass
    try:
        received.append(udp.recv(100))
    except BlockingIOError:
        pass
    for s in (tcp, udp, unix):
        s.close()
    return {**json.loads(done.stdout), "received": received, "canary": canary.read_text(), "scratch": scratch}


def test_every_layer_this_system_has_is_reported_in_force(probed):
    report = probed["report"]
    assert set(report["enforced"]) | set(report["missing"]) == set(confine.LAYERS)
    assert set(report["missing"]) == set(confine.available())


@pytest.mark.parametrize("probe", ["tcp", "udp", "unix", "abstract", "socketpair"])
def test_no_socket_of_any_kind(probed, probe):
    _needs("seccomp")
    assert probed["results"][probe] == "PermissionError"
    assert probed["received"] == []


@pytest.mark.parametrize("probe", ["fork", "exec", "subprocess"])
def test_no_process_and_no_program(probed, probe):
    _needs("seccomp")
    assert probed["results"][probe] == "PermissionError"


def test_threads_still_work(probed):
    assert probed["results"]["thread"] == "allowed"


@pytest.mark.parametrize("probe", ["read canary", "write canary", "unlink canary", "read labrnn",
                                   "list site-packages"])
def test_files_outside_are_out_of_reach(probed, probe):
    _needs("landlock")
    assert probed["results"][probe] == "PermissionError"
    assert probed["canary"] == "intact"


def test_its_scratch_directory_is_writable_up_to_the_size_limit(probed):
    assert probed["results"]["write scratch"] == "allowed"
    assert probed["results"]["big file"] == "OSError"           # EFBIG past RLIMIT_FSIZE, not a kill
    assert (probed["scratch"] / "big").stat().st_size == 1 << 20


@pytest.mark.parametrize("probe", ["signal parent", "killpg parent"])
def test_no_signal_to_labrnn(probed, probe):
    _needs("scopes")
    assert probed["results"][probe] == "PermissionError"


def test_an_allocation_past_the_address_space_fails(probed):
    assert probed["results"]["6 GB"] == "MemoryError"


def test_no_capability_is_left(probed):
    _needs("capabilities")
    assert probed["caps"]["CapEff"] == probed["caps"]["CapPrm"] == probed["caps"]["CapAmb"] == 0
    if os.geteuid() == 0:
        assert probed["caps"]["CapBnd"] == 0


def test_needed_holds_the_standard_library_and_numpy_but_no_other_package():
    import sysconfig

    import numpy
    paths = confine.needed()
    assert os.path.realpath(sysconfig.get_paths()["stdlib"] + "/os.py") in paths
    assert os.path.realpath(os.path.dirname(numpy.__file__)) in paths
    assert not [p for p in paths if os.path.isdir(p) and "site-packages" in p and "numpy" not in p]
    assert all(os.path.isabs(p) for p in paths)
