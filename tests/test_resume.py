"""Checkpoints, resume and divergence: a long run loses nothing, and a damaged checkpoint is named."""
import json
import shutil
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
    assert f"resuming the run in {killed} at step {step:,}" in resumed.stderr
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


@pytest.mark.parametrize("eta, step", [(5.0, 2000), (50.0, 1)])
def test_divergence_stops_the_run(bible, eta, step):
    """eta = 5 diverges by the mean of 1,000 losses (tested from step 2,000); eta = 50's second loss is
    already beyond the ceiling."""
    settings = labrnn.Settings(eta=eta, m=50, steps=6000, sample_every=1000, sample_len=20, best_len=50)
    run = labrnn.train(bible, settings, progress=False)
    assert run.diverged is not None and run.diverged["step"] == step
    assert run.steps_done == step + 1 and np.isfinite(run.curve).all()
    assert max(s.step for s in run.samples) <= step
    assert run.best.step < step and len(run.best.text) == 50


def test_keep_going_trains_on(bible):
    settings = labrnn.Settings(eta=5.0, m=20, steps=2500, sample_every=1000, keep_going=True)
    run = labrnn.train(bible, settings, progress=False)
    assert run.diverged is None and run.steps_done == 2500


def _rewrite(path, change):
    """The checkpoint at path, with its arrays and metadata passed through change(arrays, meta)."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays.pop("meta")))
    change(arrays, meta)
    with open(path, "wb") as fh:
        np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)


def _flip_a_byte_of_param_W(path):
    data = bytearray(path.read_bytes())
    at = data.index(b"param_W.npy") + 200          # inside the array's bytes, past the zip header
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE = {
    "a flipped byte in param_W": _flip_a_byte_of_param_W,
    "param_W missing": lambda p: _rewrite(p, lambda a, m: a.pop("param_W")),
    "param_W misshapen": lambda p: _rewrite(p, lambda a, m: a.update(param_W=np.zeros((3, 3)))),
    "a setting of the wrong type": lambda p: _rewrite(p, lambda a, m: m["settings"].update(eta="fast")),
    "a setting of another version": lambda p: _rewrite(p, lambda a, m: m["settings"].update(momentum=0.9)),
    "the step a string": lambda p: _rewrite(p, lambda a, m: m.update(step="12")),
}


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A run directory whose checkpoint stands at step 200 of 400."""
    out = tmp_path_factory.mktemp("interrupted") / "run"
    assert _labrnn("train", "--m", "8", "--steps", "200", "--sample-every", "100", "--quiet",
                   "--out", str(out)).returncode == 0
    _rewrite(out / "checkpoint.npz", lambda a, m: m["settings"].update(steps=400))
    return out


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("command", ["train", "report"])
def test_a_damaged_checkpoint_is_one_line_and_left_as_it_was(interrupted, tmp_path, damage, command):
    run = tmp_path / "run"
    shutil.copytree(interrupted, run)
    DAMAGE[damage](run / "checkpoint.npz")
    before = (run / "checkpoint.npz").read_bytes()
    argv = (["train", "--resume", str(run)] if command == "train" else
            ["report", "--m", "8", "--steps", "400", "--sample-every", "100", "--run-dir", str(run), "--resume"])
    result = _labrnn(*argv)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in lines if "error" in line]
    assert errors == lines[-1:] and f"{run / 'checkpoint.npz'}" in errors[0] and "damaged" in errors[0], lines
    assert (run / "checkpoint.npz").read_bytes() == before


def test_train_keeps_an_interrupted_run_as_a_report_does(interrupted, tmp_path):
    """One resume policy (`labrnn.report.run.start_or_resume`): a new `labrnn train` into the directory of an interrupted
    run is refused, its checkpoint left as it was; --force starts it again."""
    run = tmp_path / "run"
    shutil.copytree(interrupted, run)
    before = (run / "checkpoint.npz").read_bytes()
    argv = ["train", "--m", "8", "--steps", "400", "--sample-every", "100", "--quiet", "--out", str(run)]
    refused = _labrnn(*argv)
    assert refused.returncode == 2 and "interrupted at step 200" in refused.stderr and "RESUME=1" in refused.stderr
    assert (run / "checkpoint.npz").read_bytes() == before
    forced = _labrnn(*argv, "--force")
    assert forced.returncode == 0, forced.stderr
    assert labrnn.RunDir(run).checkpoint_meta()["step"] == 400
