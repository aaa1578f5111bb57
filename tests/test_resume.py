"""Checkpoints, resume and divergence: a long run loses nothing."""
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import labrnn

ARGS = ["--m", "40", "--steps", "16000", "--sample-every", "4000", "--sample-len", "60",
        "--best-len", "100", "--checkpoint-every", "1000", "--quiet"]


def _labrnn(*args, **kw):
    return subprocess.run([sys.executable, "-m", "labrnn.cli", *args], capture_output=True, text=True, **kw)


def test_killed_run_resumes_number_for_number(tmp_path, numbers):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert _labrnn("train", *ARGS, "--out", str(whole)).returncode == 0

    proc = subprocess.Popen([sys.executable, "-m", "labrnn.cli", "train", *ARGS, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = killed / "checkpoint.npz"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if checkpoint.exists() and labrnn.RunDir(killed).checkpoint_meta()["step"] >= 5000:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = labrnn.RunDir(killed).checkpoint_meta()["step"]
    assert 5000 <= step < 16000, "the run should have been killed mid-way"
    assert not (killed / "run.json").exists()

    resumed = _labrnn("train", "--resume", str(killed), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {killed} at step {step:,}" in resumed.stderr
    assert numbers(killed) == numbers(whole)
    a, b = labrnn.RunDir(whole).load_run(), labrnn.RunDir(killed).load_run()
    np.testing.assert_array_equal(a.curve, b.curve)
    for k in a.best_params:
        np.testing.assert_array_equal(a.best_params[k], b.best_params[k])

    again = _labrnn("train", "--resume", str(killed))
    assert again.returncode == 0 and "complete" in again.stderr


@pytest.mark.parametrize("extra, message", [
    (["--eta", "0.2"], "--eta 0.2 contradicts the checkpoint"),
    (["--data", "{other}"], "corpus differs"),
])
def test_resume_refuses_a_different_run(tmp_path, extra, message):
    other = tmp_path / "other.txt"
    other.write_text("a different corpus, long enough for seq_length 25 and a holdout. " * 20)
    out = tmp_path / "run"
    assert _labrnn("train", "--m", "8", "--steps", "50", "--quiet", "--out", str(out)).returncode == 0
    result = _labrnn("train", "--resume", str(out), *[e.format(other=other) for e in extra])
    assert result.returncode == 2
    assert message in result.stderr.strip().splitlines()[-1]


def test_resume_without_checkpoint(tmp_path):
    result = _labrnn("train", "--resume", str(tmp_path))
    assert result.returncode == 2
    assert "no checkpoint" in result.stderr and "start the run again" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("eta", [5.0, 50.0])
def test_divergence_stops_the_run(bible, eta):
    settings = labrnn.Settings(eta=eta, m=50, steps=6000, sample_every=1000, sample_len=20, best_len=50)
    run = labrnn.train(bible, settings, progress=False)
    assert run.diverged is not None and run.diverged["step"] == 2000
    assert run.steps_done == 2001 and np.isfinite(run.curve).all()
    assert max(s.step for s in run.samples) <= 2000
    assert run.best.step < 2000 and len(run.best.text) == 50


def test_keep_going_trains_on(bible):
    settings = labrnn.Settings(eta=5.0, m=20, steps=2500, sample_every=1000, keep_going=True)
    run = labrnn.train(bible, settings, progress=False)
    assert run.diverged is None and run.steps_done == 2500
