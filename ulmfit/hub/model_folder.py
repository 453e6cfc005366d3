"""The saved-model folder: ``model.pt`` + ``config.json`` + ``vocab.json`` + ``tokenizer.json`` (+ ``labels.json``).

Everything is JSON or a plain ``state_dict`` read with ``torch.load(weights_only=True)``: loading a
folder never unpickles arbitrary objects.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ulmfit.errors import UlmfitError
from ulmfit.hub.atomic import atomic_write, atomic_write_text
from ulmfit.version import __version__

__all__ = ["FORMAT_VERSION", "ModelFolderError", "read_config", "write_config", "save_state", "load_state",
           "write_json", "read_json"]

FORMAT_VERSION = 1


class ModelFolderError(UlmfitError, ValueError):
    """A model folder is missing, incomplete, of another kind, or from an unsupported format version."""


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON atomically (temporary file + ``os.replace``)."""
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def read_json(path: Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise ModelFolderError(f"{path} not found: a model folder holds model.pt, config.json, vocab.json "
                               "and tokenizer.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ModelFolderError(f"{path} is not valid JSON ({err})") from err


def write_config(folder: Path, kind: str, config: dict[str, Any]) -> None:
    """``config.json`` with the format version, library version and ``kind``."""
    write_json(Path(folder) / "config.json",
               {"format_version": FORMAT_VERSION, "library_version": __version__, "kind": kind, **config})


def read_config(folder: Path, kind: str) -> dict[str, Any]:
    """Read ``config.json`` and check that the folder holds a ``kind`` model of a format we can read."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"model folder {str(folder)!r} does not exist")
    config = read_json(folder / "config.json")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFolderError(
            f"{folder}/config.json has format_version {version!r}; this ulmfit {__version__} reads format "
            f"{FORMAT_VERSION} only (saved by ulmfit {config.get('library_version', 'unknown')}). "
            "Re-save the model with a matching ulmfit version.")
    if config.get("kind") != kind:
        raise ModelFolderError(f"{folder} holds a {config.get('kind')!r} model, expected a {kind!r} model")
    return config


def _nonfinite_keys(state: dict[str, torch.Tensor]) -> list[str]:
    return [k for k, v in state.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def save_state(folder: Path, state: dict[str, torch.Tensor], half: bool = False) -> None:
    """Write ``model.pt`` atomically; ``half=True`` stores floating tensors as fp16 (halves the size).
    Weights with NaN/inf are refused (a diverged run is never saved as a model)."""
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    bad = _nonfinite_keys(state)
    if bad:
        raise ModelFolderError(f"refusing to write {Path(folder) / 'model.pt'}: {len(bad)} tensor(s) hold NaN/inf "
                               f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}); training diverged"
                               f"{' (or a value is too large for half=True)' if half else ''}")
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    atomic_write(Path(folder) / "model.pt", lambda f: torch.save(tensors, f))


def load_state(folder: Path) -> dict[str, torch.Tensor]:
    """Read ``model.pt`` without unpickling objects; fp16-stored tensors come back as fp32."""
    path = Path(folder) / "model.pt"
    if not path.is_file():
        raise ModelFolderError(f"{path} not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise ModelFolderError(f"cannot read {path} as a state_dict ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict):
        raise ModelFolderError(f"{path} does not hold a state_dict (found {type(state).__name__})")
    bad = _nonfinite_keys(state)
    if bad:
        raise ModelFolderError(f"{path}: {len(bad)} tensor(s) hold NaN/inf ({', '.join(bad[:3])}"
                               f"{', ...' if len(bad) > 3 else ''}); the weights are broken")
    return {k: v.float() if v.dtype == torch.float16 else v for k, v in state.items()}
