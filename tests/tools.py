"""System tools some tests need: skip when absent, except under CI, where .ci/run installs them."""
from __future__ import annotations

import os
import shutil

import pytest

INSTALL = {
    "xelatex": "apt-get install texlive-xetex texlive-fonts-recommended texlive-plain-generic pandoc "
               "(macOS: brew install --cask mactex-no-gui && brew install pandoc)",
    "pdftotext": "apt-get install poppler-utils (macOS: brew install poppler)",
    "pdfimages": "apt-get install poppler-utils (macOS: brew install poppler)",
    "chromium": "apt-get install chromium",
}


def require(tool: str) -> str:
    """The tool's path; a skip naming the install line when absent, a failure when CI is set."""
    path = shutil.which(tool)
    if path:
        return path
    message = f"{tool} is not installed: {INSTALL[tool]}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (.ci/run should have installed it)")
    pytest.skip(message)
