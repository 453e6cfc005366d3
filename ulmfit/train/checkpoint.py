"""Training checkpoints: atomic save (temp file in the same folder, fsync, ``os.replace``), safe load
(``torch.load(weights_only=True)``), RNG state capture/restore, and model/checkpoint matching."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ulmfit.hub.atomic import atomic_write
from ulmfit.hub.safe_load import safe_torch_load

__all__ = [
    "CHECKPOINT_FORMAT",
    "atomic_save",
    "check_state_dict",
    "get_rng_state",
    "load_checkpoint",
    "set_rng_state",
]

CHECKPOINT_FORMAT = "ulmfit-train-checkpoint-v1"


def atomic_save(obj: dict, path: str | os.PathLike) -> Path:
    """``torch.save`` through :func:`ulmfit.hub.atomic.atomic_write` (temp file, fsync, rename): a reader
    never sees half a file, and a kill during the write leaves the previous checkpoint in place. Orphaned
    temporary files of ``path`` from an earlier kill are removed first (one writer per checkpoint)."""
    return atomic_write(path, lambda f: torch.save(obj, f), clean_orphans=True)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by ``Learner.save_checkpoint`` without unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    ckpt = safe_torch_load(path, map_location=map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a training checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    return ckpt


def check_state_dict(model: nn.Module, state: dict, source: str | os.PathLike) -> None:
    """Raise a ValueError naming ``source`` and the mismatched keys if ``state`` does not fit ``model``."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if isinstance(state[k], torch.Tensor) and state[k].shape != own[k].shape
    )
    if missing or unexpected or shapes:

        def fmt(xs: list[str]) -> str:
            return ", ".join(xs[:10]) + (f" ... ({len(xs)} in all)" if len(xs) > 10 else "")

        parts = [
            f"{label} [{fmt(xs)}]"
            for label, xs in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("shape mismatches", shapes),
            )
            if xs
        ]
        raise ValueError(f"checkpoint {source} does not match this model: " + "; ".join(parts))


def get_rng_state() -> dict:
    """torch, numpy, python ``random`` and CUDA RNG states, as tensors and plain python values."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": _to_lists(random.getstate()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`get_rng_state` returned."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    random.setstate(_to_tuples(state["python"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_lists(x):
    return [_to_lists(v) for v in x] if isinstance(x, (tuple, list)) else x


def _to_tuples(x):
    return tuple(_to_tuples(v) for v in x) if isinstance(x, list) else x
