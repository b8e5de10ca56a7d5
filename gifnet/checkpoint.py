"""Training checkpoints: one file per saved step, `OUT/checkpoints/step_XXXXXXX.pt`, written atomically.

A checkpoint is a plain dict of tensors and containers (model, optimiser, grad scaler, every RNG state, the data
position, the run's config and counters) saved with `torch.save` and read back with `weights_only=True`, so loading one
never runs arbitrary code. `save` keeps the newest `keep` files; `latest` finds the newest.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from .errors import GifnetError
from .files import PathLike, atomic_write

FORMAT = "gifnet-train-1"


def folder(out: PathLike) -> Path:
    return Path(out) / "checkpoints"


def save(out: PathLike, step: int, state: dict, *, keep: int = 2) -> Path:
    """Write `state` (plus the format tag and the RNG states) as step `step`'s checkpoint, drop all but the newest
    `keep`, and return its path."""
    d = folder(out)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"step_{step:07d}.pt"
    state = {"format": FORMAT, "step": step, "rng": rng_state(), **state}
    atomic_write(path, lambda tmp: torch.save(state, tmp))
    for old in sorted(d.glob("step_*.pt"))[:-keep]:
        old.unlink()
    return path


def latest(out: PathLike) -> Path:
    ckpts = sorted(folder(out).glob("step_*.pt"))
    if not ckpts:
        raise GifnetError(f"{out}: no checkpoints to resume from (expected {folder(out)}/step_*.pt)", param="out")
    return ckpts[-1]


def read(path: PathLike) -> dict:
    """A checkpoint's contents, read with weights_only=True (tensors and plain containers only)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:   # noqa: BLE001  (any unreadable file: one message)
        raise GifnetError(f"{path}: not a readable gifnet training checkpoint ({type(e).__name__}); delete it to "
                          "resume from the one before") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise GifnetError(f"{path}: not a gifnet training checkpoint")
    return state


def rng_state() -> dict:
    """Every random generator the trainer uses: torch (and CUDA), Python's, numpy's legacy global one."""
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": {"key": np_state[0], "state": torch.from_numpy(np_state[1].astype(np.int64)),
                       "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "gauss": float(np_state[4])}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(tuple(tuple(x) if isinstance(x, list) else x for x in state["python"]))
    n = state["numpy"]
    np.random.set_state((n["key"], n["state"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
