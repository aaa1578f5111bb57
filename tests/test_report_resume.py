"""A report whose training was interrupted is resumed (RESUME=1) or restarted (FORCE=1), never silently lost."""
import signal
import subprocess
import sys
import time

import labrnn

FLAGS = ["--m", "24", "--steps", "40000", "--sample-every", "10000", "--sample-until", "40000",
         "--sample-len", "40", "--best-len", "60", "--grad-m", "3"]


def _report(run_dir, *extra):
    return subprocess.run([sys.executable, "-m", "labrnn.cli", "report", *FLAGS, "--run-dir", str(run_dir), *extra],
                          capture_output=True, text=True, timeout=600)


def test_interrupted_report_resumes(tmp_path, numbers):
    run_dir = tmp_path / "reports" / "run"
    proc = subprocess.Popen([sys.executable, "-m", "labrnn.cli", "report", *FLAGS, "--run-dir", str(run_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoint.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "Traceback" not in err
    assert "interrupted at step" in err.strip().splitlines()[-1] and "RESUME=1" in err
    assert not (run_dir / "report.html").exists()
    step = labrnn.RunDir(run_dir).checkpoint_meta()["step"]
    assert 0 < step < 40_000

    again = _report(run_dir)
    last = again.stderr.strip().splitlines()[-1]
    assert again.returncode != 0 and f"interrupted at step {step:,}" in last
    assert "RESUME=1" in last and "FORCE=1" in last
    assert not (run_dir / "report.html").exists()

    resumed = _report(run_dir, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming the run in {run_dir} at step {step:,}" in resumed.stderr
    assert (run_dir / "report.html").exists()

    whole = _report(tmp_path / "reports" / "whole")
    assert whole.returncode == 0, whole.stderr
    assert numbers(run_dir) == numbers(tmp_path / "reports" / "whole")


def test_resume_without_checkpoint_says_so(tmp_path):
    result = _report(tmp_path / "run", "--resume")
    assert result.returncode != 0
    assert "holds no checkpoint" in result.stderr.strip().splitlines()[-1]
