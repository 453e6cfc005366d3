"""``torch.load`` for files from anywhere: ``weights_only=True`` (tensors and plain containers only, nothing
is ever unpickled into code), and an error that names the file without repeating torch's advice to retry
with ``weights_only=False`` (which would run whatever the file contains)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

__all__ = ["safe_torch_load", "why_unreadable"]


def why_unreadable(path: str | os.PathLike, err: BaseException) -> str:
    """A one-line reason ``torch.load(path, weights_only=True)`` failed, safe to show to a user."""
    text = str(err)
    if "weights only load failed" in text.lower() or "unsupported global" in text.lower():
        return (f"refusing to load {path}: it holds pickled Python objects, not only tensors, and loading them "
                "could run code (nothing was run). Use a copy from a source you trust that was saved as a plain "
                "state_dict")
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(err).__name__)
    return f"cannot read {path} ({type(err).__name__}: {first}); the file is truncated, corrupt or not a torch file"


def safe_torch_load(path: str | os.PathLike, map_location: Any = "cpu", error: type[Exception] = ValueError) -> Any:
    """``torch.load(path, weights_only=True)``; any failure becomes ``error(why_unreadable(...))``."""
    try:
        return torch.load(Path(path), map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for corrupt or unsafe files
        raise error(why_unreadable(path, err)) from None
