"""What a shared file may say of the machine that made it: nothing (issue 21 point 4).

report.html, report.pdf, the index and comparisons travel; run.json stays local.  Text that came from this
machine's processes (a traceback of a student's file, what it printed) is passed through `public` before it is
shown: a known file's absolute path becomes its name, the home directory `~`, any other absolute path its last
part, and the user and host names stand-ins.  A student's own TEXT is never rewritten: it is theirs.
"""
from __future__ import annotations

import getpass
import re
import socket
from pathlib import Path

ABSOLUTE = re.compile(r"(?<![\w.~-])(?:/[^\s/:'\"()<>,;]+)+/([^\s/:'\"()<>,;]+)")


def _names() -> dict[str, str]:
    """This machine's user and host names, as words to hide (one letter or two would hide common words)."""
    found = {}
    try:
        found[getpass.getuser()] = "<user>"
    except (KeyError, OSError):             # no user name in the environment or the password database
        pass
    host = socket.gethostname()
    found.update({h: "<host>" for h in {host, host.split(".")[0]} if h})
    return {k: v for k, v in found.items() if len(k) >= 3}


def public(text: str, files: dict[str, str] | None = None) -> str:
    """`text` with nothing private of this machine: `files` maps absolute paths to the names to show."""
    for path, name in sorted((files or {}).items(), key=lambda kv: -len(kv[0])):
        text = text.replace(path, name)
    home = str(Path.home())
    if len(home) > 1:
        text = text.replace(home, "~")
    text = ABSOLUTE.sub(lambda m: m.group(1), text)
    for word, stand_in in _names().items():
        text = re.sub(rf"(?<![\w]){re.escape(word)}(?![\w])", stand_in, text)
    return text
