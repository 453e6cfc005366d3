"""The saved-model folder: ``model.pt`` + ``config.json`` + ``vocab.json`` + ``tokenizer.json`` (+ ``labels.json``).

Everything is JSON or a plain ``state_dict`` read with ``torch.load(weights_only=True)``: loading a
folder never unpickles arbitrary objects.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from ulmfit.errors import UlmfitError
from ulmfit.hub.atomic import atomic_write, atomic_write_text
from ulmfit.hub.safe_load import safe_torch_load
from ulmfit.user_warning import warn
from ulmfit.version import __version__

__all__ = ["MANIFEST", "SIZE_BOUNDS", "build_checked", "check_no_file_above", "check_output_folder", "check_sizes",
           "nonfinite_keys",
           "require", "verify_manifest", "write_manifest",
           "FORMAT_VERSION",
           "ModelFolderError", "read_config", "write_config", "save_state", "load_state",
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


_KIND_WORDS = {"language_model": "a language model", "classifier": "a text classifier",
               "classifier_ensemble": "a classifier ensemble", "image_classifier": "an image classifier"}


def folder_path(folder: str | os.PathLike, name: str = "folder") -> Path:
    """``folder`` as a ``Path``; anything but a str or path is a ``TypeError`` naming ``name``."""
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"{name} must be a model folder's path (a str or pathlib.Path), got "
                        f"{type(folder).__name__} ({folder!r:.60})")
    return Path(folder)


def read_config(folder: Path, kind: str) -> dict[str, Any]:
    """Check the folder's manifest (:func:`verify_manifest`), read ``config.json`` and check that the folder
    holds a ``kind`` model of a format we can read."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "is a file, not a model folder" if folder.exists() else "does not exist"
        raise ModelFolderError(f"model folder {str(folder)!r} {what}")
    config = read_json(folder / "config.json")
    if not isinstance(config, dict):
        raise ModelFolderError(f"{folder / 'config.json'} must hold a JSON object, found {type(config).__name__}")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFolderError(
            f"{folder}/config.json has format_version {version!r}; this ulmfit {__version__} reads format "
            f"{FORMAT_VERSION} only (saved by ulmfit {config.get('library_version', 'unknown')}). "
            "Re-save the model with a matching ulmfit version.")
    if config.get("kind") != kind:
        found = config.get("kind")
        raise ModelFolderError(f"{folder} holds {_KIND_WORDS.get(found, f'a {found!r} model')}, not "
                               f"{_KIND_WORDS.get(kind, f'a {kind!r} model')} (config.json's kind is {found!r}, "
                               f"expected {kind!r})")
    verify_manifest(folder)  # after the version check, whose message says more about a folder from elsewhere
    return config


def nonfinite_keys(state: dict[str, torch.Tensor]) -> list[str]:
    """Names of the floating tensors in ``state`` that hold NaN or inf."""
    return [k for k, v in state.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def save_state(folder: Path, state: dict[str, torch.Tensor], half: bool = False) -> None:
    """Write ``model.pt`` atomically; ``half=True`` stores floating tensors as fp16 (halves the size).
    Weights with NaN/inf are refused (a diverged run is never saved as a model)."""
    if half:  # tied weights (embedding = decoder) stay one stored tensor: converted once, shared
        converted: dict[tuple, torch.Tensor] = {}

        def to_half(v: torch.Tensor) -> torch.Tensor:
            if not v.is_floating_point():
                return v
            key = (v.data_ptr(), v.shape, v.stride(), v.dtype)
            if key not in converted:
                converted[key] = v.detach().cpu().contiguous().half()
            return converted[key]

        state = {k: to_half(v) for k, v in state.items()}
    bad = nonfinite_keys(state)
    if bad:
        raise ModelFolderError(f"refusing to write {Path(folder) / 'model.pt'}: {len(bad)} tensor(s) hold NaN/inf "
                               f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}); training diverged"
                               f"{' (or a value is too large for half=True)' if half else ''}")
    done: dict[int, torch.Tensor] = {}  # the same tensor under two keys is written once
    tensors = {k: done.setdefault(id(v), v.detach().cpu().contiguous()) for k, v in state.items()}
    atomic_write(Path(folder) / "model.pt", lambda f: torch.save(tensors, f))


def load_state(folder: Path) -> dict[str, torch.Tensor]:
    """Read ``model.pt`` without unpickling objects; fp16-stored tensors come back as fp32."""
    path = Path(folder) / "model.pt"
    if not path.is_file():
        raise ModelFolderError(f"{path} not found")
    state = safe_torch_load(path, error=ModelFolderError)
    if not isinstance(state, dict):
        raise ModelFolderError(f"{path} does not hold a state_dict (found {type(state).__name__})")
    bad = nonfinite_keys(state)
    if bad:
        raise ModelFolderError(f"{path}: {len(bad)} tensor(s) hold NaN/inf ({', '.join(bad[:3])}"
                               f"{', ...' if len(bad) > 3 else ''}); the weights are broken")
    return {k: v.float() if v.dtype == torch.float16 else v for k, v in state.items()}


# --------------------------------------------------------------------------- integrity
MANIFEST = "manifest.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_output_folder(folder: str | os.PathLike | None, name: str = "folder", own: tuple[str, ...] = ()) -> Path:
    """Where a save may write: a path that does not exist yet, an empty folder, or a folder that holds a saved
    model (its ``manifest.json`` or ``config.json``), which the save replaces. ``own``: names the caller itself
    leaves in the folder before its save (``pretrain``'s ``run/`` checkpoints), which do not count as foreign.

    Raises ``ModelFolderError`` naming ``name`` (``folder`` in Python, ``--out`` in the shell) for an empty path,
    an existing file, a path below a file, or a folder that holds other files: a save would mix the model's files
    with them. Call it before training, so that a bad path costs nothing.
    """
    if folder is None or isinstance(folder, (str, os.PathLike)) and not os.fspath(folder).strip():
        raise ModelFolderError(f"{name}: the path is empty; give the folder to save the model in")
    path = folder_path(folder, name)
    if path.exists() and not path.is_dir():
        raise ModelFolderError(f"{name} {str(path)!r} is a file: a model is saved as a folder; give a new folder's "
                               "path")
    check_no_file_above(path, name)
    if path.is_dir() and not _holds_saved_model(path):
        foreign = sorted(p.name for p in path.iterdir() if p.name not in own)
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise ModelFolderError(f"{name} {str(path)!r} is a folder that holds other files ({shown}), not a saved "
                                   "model: saving there would mix the model's files with them; give a new or empty "
                                   "folder, or the folder of a saved model to replace")
    return path


def check_no_file_above(path: Path, name: str) -> None:
    """Raise ``ModelFolderError`` when ``path`` lies below an existing file (``afile/sub``): nothing can be
    written there. ``name``: how the user gave it (``--out``, ``folder``)."""
    for parent in Path(path).parents:
        if parent.exists():
            if not parent.is_dir():
                raise ModelFolderError(f"{name} {str(path)!r}: {str(parent)!r} is a file, so nothing can be written "
                                       "below it")
            return


def _holds_saved_model(folder: Path) -> bool:
    """A folder this library saved a model in: its manifest, or (older saves) a config.json with our
    ``format_version`` and ``kind`` (another library's config.json is not ours to overwrite)."""
    if (folder / MANIFEST).is_file():
        return True
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "format_version" in config and "kind" in config


def _inside(name: str) -> bool:
    """A manifest entry that names a path inside its folder: relative, without ``..``."""
    path = Path(name)
    return bool(name) and not path.is_absolute() and not path.drive and ".." not in path.parts


def _listed(folder: Path) -> list[str]:
    """The file names the folder's current manifest lists, inside the folder only ([] when it has none or it is
    unreadable: the manifest may have been edited, so nothing it names outside the folder is ever touched)."""
    try:
        files = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return []
    return [n for n in files if isinstance(n, str) and _inside(n)] if isinstance(files, dict) else []


def _remove_stale(folder: Path, old: list[str], new: list[str]) -> None:
    """Delete what a replaced save listed and the new one does not: a classifier's ``model.pt`` after an ensemble
    was saved over it, an ensemble's ``member-5/`` after a smaller one. Only files the old manifest listed go,
    and of sub-folders only an ensemble's ``member-N`` folders (a symbolic link is never followed)."""
    kept_dirs = {Path(n).parts[0] for n in new if len(Path(n).parts) > 1}
    for name in sorted(set(old) - set(new)):
        parts = Path(name).parts
        if len(parts) > 1:  # a member's manifest: the member folder goes, unless the new save uses it
            member = folder / parts[0]
            if (len(parts) == 2 and parts[1] == MANIFEST and parts[0] not in kept_dirs
                    and re.fullmatch(r"member-\d+", parts[0]) and member.is_dir() and not member.is_symlink()):
                shutil.rmtree(member, ignore_errors=True)
        elif (folder / name).is_file() or (folder / name).is_symlink():
            (folder / name).unlink()


def write_manifest(folder: Path, names: list[str]) -> None:
    """Write ``manifest.json`` LAST in a save: each of the files ``names`` (relative to ``folder``) with its size
    and sha256. Every file of a save is written atomically and the manifest after them, so a save that dies
    half-way leaves the previous manifest, which no longer matches: the folder is refused on load, never
    loaded with new weights beside an old vocabulary. Once the new manifest is in place, files of a save it
    replaced that the new one does not list are removed."""
    folder = Path(folder)
    old = _listed(folder)
    files = {name: {"size": (folder / name).stat().st_size, "sha256": _sha256(folder / name)} for name in names}
    write_json(folder / MANIFEST, {"format_version": 1, "files": files})
    _remove_stale(folder, old, list(names))


def verify_manifest(folder: Path) -> None:
    """Check every file listed in ``manifest.json`` (size, then sha256); raise ``ModelFolderError`` naming the
    first file that is missing or differs. A folder without a manifest (saved by an older version) loads with a
    warning: its integrity cannot be checked."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        warn(f"{folder} has no {MANIFEST}: its files cannot be checked for tampering or an interrupted "
             "save; re-save it to add one")
        return
    manifest = read_json(path)
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        raise ModelFolderError(f"{path} must hold {{\"files\": {{name: {{\"size\", \"sha256\"}}}}}}")
    for name, entry in files.items():
        target = folder / name
        if not isinstance(entry, dict) or not _inside(name):
            raise ModelFolderError(f"{path}: malformed entry for {name!r}")
        if not target.is_file():
            raise ModelFolderError(f"{target} is listed in {MANIFEST} but missing: the folder is incomplete")
        if target.stat().st_size != entry.get("size") or _sha256(target) != entry.get("sha256"):
            raise ModelFolderError(f"{target} does not match its sha256/size in {MANIFEST}: the file was changed "
                                   "after saving (tampered, corrupted, or from an interrupted save); re-save the model")


def require(obj: Any, key: str, types: type | tuple[type, ...], path: Path) -> Any:
    """``obj[key]`` checked to be of ``types``; otherwise a ``ModelFolderError`` naming the file and the key."""
    if not isinstance(obj, dict):
        raise ModelFolderError(f"{path} must hold a JSON object, found {type(obj).__name__}")
    if key not in obj:
        raise ModelFolderError(f"{path} has no {key!r} entry")
    value = obj[key]
    if not isinstance(value, types):
        names = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise ModelFolderError(f"{path}: {key!r} must be {names}, found {type(value).__name__}")
    return value


# sizes a saved AWD-LSTM may declare (config.json is read before any weight: it must not make us allocate 256 GB)
SIZE_BOUNDS = {"emb_sz": 65_536, "n_hid": 65_536, "n_layers": 64}


def check_sizes(arch: dict, path: Path, bounds: dict[str, int] = SIZE_BOUNDS) -> None:
    """Refuse architecture sizes in ``config.json`` that are not positive ints within ``bounds``."""
    for key, limit in bounds.items():
        value = arch.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
            raise ModelFolderError(f"{path}: arch.{key}={value!r} is not accepted; expected an int in 1..{limit:,}")


def build_checked(build, state: dict[str, torch.Tensor], folder: Path):
    """``build()`` the network once on the meta device (no memory), compare its parameter names and shapes
    with ``state`` (from model.pt) and only then build it for real and load the weights. A mismatch is a
    ``ModelFolderError`` naming model.pt and config.json."""
    folder = Path(folder)
    try:
        with torch.device("meta"):
            skeleton = build().state_dict()
    except (ValueError, TypeError, IndexError) as err:  # e.g. a pad token outside an edited vocab.json
        raise ModelFolderError(f"{folder}: config.json, vocab.json and labels.json do not describe a model that can "
                               f"be built ({err})") from None
    missing = sorted(set(skeleton) - set(state))
    unexpected = sorted(set(state) - set(skeleton))
    wrong = sorted(k for k in set(skeleton) & set(state) if tuple(skeleton[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:3]}")
        parts += [f"{k}: model.pt {tuple(state[k].shape)} vs config {tuple(skeleton[k].shape)}" for k in wrong[:3]]
        raise ModelFolderError(f"{folder / 'model.pt'} does not fit the architecture in {folder / 'config.json'} "
                               f"(and vocab.json / labels.json): {'; '.join(parts)}")
    model = build()
    model.load_state_dict(state)
    return model
