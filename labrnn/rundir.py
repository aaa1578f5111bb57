"""A run on disk: `run.json` (everything a reader or a report needs) beside
`run.npz` (the smooth-loss curve of every step and the best parameters).

Both are written under temporary names and renamed, so a directory never holds
a half-written run.
"""
from __future__ import annotations

import json
import platform
from dataclasses import asdict
from pathlib import Path

import numpy as np

from . import __version__
from .iorw import DAMAGED, atomic_write
from .model import NAMES
from .train import Config, Run

JSON, NPZ = "run.json", "run.npz"


class RunDirError(ValueError):
    """A run directory that is missing or damaged."""


def versions() -> dict:
    import numba
    return {"labrnn": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__}


def run_record(run: Run) -> dict:
    """The run.json document."""
    return {
        "params": asdict(run.config),
        "corpus": run.corpus,
        "samples": run.samples,
        "best": run.best,
        "steps_done": run.steps_done,
        "epochs_done": run.epochs_done,
        "steps_per_epoch": run.steps_per_epoch,
        "epoch_boundaries": run.epoch_boundaries,
        "interrupted": run.interrupted,
        "diverged": run.diverged,
        "initial_smooth_loss": float(run.curve[0]) if len(run.curve) else None,
        "final_smooth_loss": float(run.curve[-1]) if len(run.curve) else None,
        "wall_seconds": round(run.wall_seconds, 3),
        "train_seconds": round(run.train_seconds, 3),
        "steps_per_second": round(run.steps_per_second, 1),
        "versions": versions(),
        **run.extra,
    }


def save_run(run: Run, out: str | Path) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    arrays = {"curve": run.curve, **{f"best_{k}": v for k, v in run.best_params.items()}}
    atomic_write(out / NPZ, lambda fh: np.savez_compressed(fh, **arrays))
    text = json.dumps(run_record(run), indent=1, ensure_ascii=False) + "\n"
    atomic_write(out / JSON, lambda fh: fh.write(text.encode("utf-8")))
    return out


def load_run(path: str | Path) -> Run:
    """Read a run directory back into a `Run`."""
    path = Path(path)
    try:
        record = json.loads((path / JSON).read_text(encoding="utf-8"))
        with np.load(path / NPZ) as npz:
            curve = npz["curve"]
            best_params = {k: npz[f"best_{k}"] for k in NAMES}
        config = Config(**record["params"])
    except FileNotFoundError as err:
        raise RunDirError(f"no complete run in {path} ({Path(err.filename).name} is missing)") from None
    except DAMAGED as err:
        raise RunDirError(f"the run in {path} is damaged ({err}); train it again") from None
    known = {"params", "corpus", "samples", "best", "steps_done", "epochs_done", "steps_per_epoch",
             "epoch_boundaries", "interrupted", "diverged", "initial_smooth_loss", "final_smooth_loss",
             "wall_seconds", "train_seconds", "steps_per_second", "versions"}
    return Run(
        config=config, corpus=record["corpus"], curve=curve, samples=record["samples"],
        best=record["best"], best_params=best_params, steps_done=record["steps_done"],
        epochs_done=record["epochs_done"], steps_per_epoch=record["steps_per_epoch"],
        interrupted=record["interrupted"], diverged=record.get("diverged"),
        wall_seconds=record["wall_seconds"], train_seconds=record["train_seconds"],
        extra={k: v for k, v in record.items() if k not in known},
    )


def run_name(config: Config, corpus: dict) -> str:
    """A readable directory name: corpus, its sha256 prefix, the hyperparameters and the seed."""
    slug = "".join(ch if ch.isalnum() else "-" for ch in corpus["name"].lower()).strip("-")[:24]
    length = f"ep{config.epochs}" if config.epochs is not None else f"st{config.steps}"
    return (f"{slug}-{corpus['sha256'][:8]}_eta{config.eta:g}_seq{config.seq_length}_m{config.m}"
            f"_sigma{config.sigma:g}_{length}_seed{config.seed}")
