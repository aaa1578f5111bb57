"""One look for every progress bar labrnn shows (terminal or notebook)."""
from __future__ import annotations


def bar(iterable=None, *, total=None, desc: str, unit: str, enabled: bool = True, initial: int = 0,
        leave: bool = True):
    from tqdm import tqdm  # not tqdm.auto: without ipywidgets it warns on stderr in every notebook
    return tqdm(iterable, total=total, initial=initial, desc=desc, unit=unit, disable=not enabled,
                leave=leave, mininterval=0.5, dynamic_ncols=True)
