"""Fixtures the tests share: the corpora, the one tiny report (made once for all xdist workers), its settings,
and helpers to read pages and runs."""
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

import labrnn

GENESIS = ("In the beginning God created the heaven and the earth. And the earth was without form, and void; "
           "and darkness was upon the face of the deep.\nAnd God said, Let there be light: and there was light.\n")
TINY = {"eta": 0.1, "seq_length": 10, "m": 8, "steps": 300, "sample_every": 100, "sample_until": 300,
        "sample_len": 60, "best_len": 150, "grad_m": 3}
TIMING = {"wall_seconds", "train_seconds", "eval_seconds", "sample_seconds", "compile_seconds", "steps_per_second",
          "versions"}
INSTALL = {
    "xelatex": "apt-get install texlive-xetex texlive-fonts-recommended texlive-plain-generic pandoc "
               "(macOS: brew install --cask mactex-no-gui && brew install pandoc)",
    "pdftotext": "apt-get install poppler-utils (macOS: brew install poppler)",
    "pdfimages": "apt-get install poppler-utils (macOS: brew install poppler)",
    "chromium": "apt-get install chromium",
}


ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    """In the controller, before any xdist worker starts: load (or compile, ~20 s) the numba kernels once, so that
    the workers find them in numba's cache instead of each compiling them at the same time."""
    if hasattr(config, "workerinput") or config.option.collectonly:
        return
    corpus = labrnn.Corpus(GENESIS * 30, "warm-up")
    labrnn.Trainer(corpus, labrnn.Settings(**{**TINY, "steps": 2, "sample_every": 1})).run(progress=False)


@pytest.fixture(scope="session", autouse=True)
def repository_root_stays_clean():
    """No test leaves a file in the repository's root but what .gitignore expects (build/, caches): a relative
    path must land in a temporary directory (a property test once committed the runs it wrote there)."""
    before = set(os.listdir(ROOT))
    yield
    new = sorted(set(os.listdir(ROOT)) - before)
    if new and shutil.which("git"):
        ignored = subprocess.run(["git", "check-ignore", "--stdin"], cwd=ROOT, input="\n".join(new),
                                 capture_output=True, text=True).stdout.split()
        new = [n for n in new if n not in ignored]
    assert not new, f"tests wrote into {ROOT}: {new}"


@pytest.fixture(scope="session")
def bible():
    return labrnn.load_corpus()


@pytest.fixture
def write(tmp_path):
    """Write bytes or text to a file in tmp_path and return its path."""
    def _write(content, name="corpus.txt"):
        p = tmp_path / name
        p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return p
    return _write


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.fixture(scope="session")
def genesis_text():
    return GENESIS * 30


@pytest.fixture(scope="session")
def make_once(tmp_path_factory):
    """make_once(name, build) -> (directory, what build returned): the directory `name` where every xdist worker
    of this session sees it (the session's own temporary directory without xdist), filled by build(directory) in
    the first worker to ask while the others wait; build returns something JSON can hold."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent                      # the workers' base directories are its children
    def get(name: str, build):
        path, done = root / name, root / f"{name}.json"
        with FileLock(str(root / f"{name}.lock")):
            if not done.exists():
                shutil.rmtree(path, ignore_errors=True)         # a build that failed in another worker
                path.mkdir()
                done.write_text(json.dumps(build(path)))
        return path, json.loads(done.read_text())
    return get


@pytest.fixture(scope="session")
def genesis(make_once, genesis_text):
    """A small corpus file: a report on it takes seconds. One path for every worker, so a report made on it by
    one worker is a cached run for the others."""
    path, _ = make_once("corpus", lambda d: (d / "genesis.txt").write_text(genesis_text, encoding="utf-8"))
    return path / "genesis.txt"


@pytest.fixture(scope="session")
def tiny(genesis):
    """tiny(data=genesis, **changes): the Settings of the tests' tiny report."""
    def make(data=None, **changes) -> labrnn.Settings:
        return labrnn.Settings(**{**TINY, "data": str(data or genesis), **changes})
    return make


@pytest.fixture(scope="session")
def tiny_report(make_once, tiny):
    """The session's one tiny report (made by the first worker that needs it): its run directory, in a reports
    directory with its index, and the lines make_report logged. Read it only; a test that changes it copies it."""
    def build(where: Path) -> dict:
        from labrnn.report import pipeline
        messages = []
        result = pipeline.make_report(tiny(reports=where / "reports"), log=messages.append)
        return {"run_dir": str(result.run_dir), "messages": messages}
    _, made = make_once("tiny-report", build)
    return Path(made["run_dir"]), made["messages"]


@pytest.fixture(scope="session")
def tiny_argv():
    """tiny_argv(**changes): the tiny report's settings as command-line flags."""
    def argv(**changes) -> list[str]:
        return [f"--{k.replace('_', '-')}={v}" for k, v in {**TINY, **changes}.items()]
    return argv


@pytest.fixture(scope="session")
def pre_blocks():
    """pre_blocks(page, cls): the generated texts as a browser shows them (control-character and word tags dropped)."""
    def blocks(page: str, cls: str) -> list[str]:
        found = re.findall(rf'<pre class="generated {cls}">(.*?)</pre>', page, re.S)
        return [html.unescape(re.sub(r'<span class="ctl"[^>]*>|</span>|<b class="word">|</b>', "", b)) for b in found]
    return blocks


@pytest.fixture(scope="session")
def numbers():
    """numbers(run_dir): run.json without the values that measure time or name versions."""
    def read(run_dir) -> dict:
        return {k: v for k, v in json.loads((run_dir / "run.json").read_text()).items() if k not in TIMING}
    return read


@pytest.fixture(scope="session")
def require():
    """require(tool): the tool's path; a skip naming the install line when absent, a failure under CI."""
    def find(tool: str) -> str:
        path = shutil.which(tool)
        if path:
            return path
        message = f"{tool} is not installed: {INSTALL[tool]}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (.ci/run should have installed it)")
        pytest.skip(message)
    return find


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser(require):
    """Headless Chromium (playwright), with the flags this closed network needs."""
    from playwright.sync_api import sync_playwright
    executable = require("chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
