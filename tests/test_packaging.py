"""pyproject.toml declares what the package imports, and the wheel holds what `labrnn report` needs."""
import ast
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_distributions() -> dict[str, set[str]]:
    """Each distribution labrnn's modules import (at the top or inside a function), with the modules."""
    owners = metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for path in (ROOT / "labrnn").rglob("*.py"):
        if "templates" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for top in {n.split(".")[0] for n in names} - set(sys.stdlib_module_names) - {"labrnn"}:
                for dist in owners.get(top, [f"(no installed distribution has {top!r})"]):
                    found.setdefault(dist, set()).add(path.name)
    return found


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {re.split(r"[ <>=!~\[;]", dep, maxsplit=1)[0].lower().replace("_", "-") for dep in project["dependencies"]}


@pytest.mark.fast
def test_every_imported_distribution_is_declared():
    undeclared = {dist: sorted(where) for dist, where in imported_distributions().items()
                  if dist.lower().replace("_", "-") not in declared()}
    assert undeclared == {}


def run(*cmd, cwd, timeout=900):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert r.returncode == 0, f"{' '.join(map(str, cmd))}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel, built once and installed into one clean venv that the tests here share: (wheel, venv, a
    directory with no checkout behind it)."""
    root = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "build", "--wheel", "--outdir", root / "dist", ROOT, cwd=root)
    built, = (root / "dist").glob("labrnn-*.whl")
    venv = root / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=root)
    # --no-compile: byte-compiling every dependency's modules took 32 s of 59 here; what runs compiles as it imports
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-compile", built, cwd=root)
    (root / "elsewhere").mkdir()
    return built, venv, root / "elsewhere"


def test_the_wheel_holds_the_notebooks_and_templates(wheel):
    names = zipfile.ZipFile(wheel[0]).namelist()
    notebooks = sorted(n for n in names if n.endswith(".ipynb"))
    assert notebooks == [f"labrnn/notebooks/{n.name}" for n in sorted((ROOT / "notebooks").glob("*.ipynb"))]
    assert "labrnn/templates/labrnn/index.html.j2" in names


def test_the_wheel_alone_makes_a_report(wheel):
    """Installed into a clean venv and run from an unrelated directory: no checkout behind it."""
    _, venv, work = wheel
    short = ["--steps", "2000", "--sample-every", "1000", "--sample-until", "2000", "--m", "20"]
    out = run(venv / "bin" / "labrnn", "report", *short, cwd=work).stdout.strip().splitlines()[-1]
    page = Path(out).read_text(encoding="utf-8")
    assert Path(out).parent.parent == work / "reports"
    assert "Gradient check" in page and "The best model" in page and "2,000 steps" in page
    assert (work / "reports" / "index.html").exists()


def test_the_wheel_alone_trains_and_sweeps(wheel):
    _, venv, work = wheel
    labrnn = venv / "bin" / "labrnn"
    run(labrnn, "train", "--steps", "300", "--m", "10", "--quiet", "--out", work / "run", cwd=work)
    assert (work / "run" / "run.json").exists()
    sweep = run(labrnn, "sweep", "--eta", "0.05 0.1", "--steps", "300", "--m", "10", "--sample-every", "300",
                "--sample-until", "300", "--jobs", "2", cwd=work).stdout.strip().splitlines()[-1]
    assert Path(sweep).name == "comparison.html" and Path(sweep).exists()
