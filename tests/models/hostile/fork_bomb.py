"""Starts 20 detached children (bounded: each sleeps a minute and exits), a program, and a CPU spinner thread,
all meant to outlive the sweep."""
import os
import subprocess
import threading
import time

T = {}
started = 0
for _ in range(20):                     # bounded: as root in CI an unbounded loop would be a real fork bomb
    try:
        if os.fork() == 0:
            os.setsid()
            time.sleep(60)
            os._exit(0)
        started += 1
    except OSError:
        break
try:
    subprocess.Popen(["sleep", "60"], start_new_session=True)
    started += 1
except OSError:
    pass


def spin():
    while True:
        pass


threading.Thread(target=spin, daemon=True).start()


def loss_and_grads(params, x, y, h0):
    raise RuntimeError(f"started {started} processes")
