"""torchvision's pretrained weights for a ``resnet*`` body: the name checked before any work is done, and a
failed download (an offline machine, a bad cached file) turned into one line that says how to place the
file by hand.

torchvision downloads a weights file once into torch's hub cache, ``torch.hub.get_dir()/checkpoints``
(``$TORCH_HOME/hub/checkpoints``, default ``~/.cache/torch/hub/checkpoints``); a file already there is used
without network access.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.parse import urlparse

import torch
from torch import nn

from ulmfit.errors import DownloadError

__all__ = ["fetch_weights", "torchvision_model", "weights_entry", "weights_file"]


def weights_entry(arch: str, weights: Any) -> Any:
    """The torchvision registry entry (a ``WeightsEnum`` member) named ``weights`` for ``arch``.

    weights: a name such as ``"IMAGENET1K_V1"`` or ``"DEFAULT"``, or an entry. An unknown name raises a
    ValueError listing the accepted ones; nothing is downloaded.
    """
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(arch)
    except (KeyError, ValueError):
        raise ValueError(f"unknown torchvision architecture {arch!r} (for weights={weights!r})") from None
    if isinstance(weights, enum):
        return weights
    try:
        return enum.verify(weights)
    except (KeyError, TypeError, ValueError):
        names = ", ".join(enum.__members__)  # the aliases (DEFAULT) included
        raise ValueError(f"weights={weights!r} is not a torchvision weights name for {arch}; "
                         f"accepted: {names}") from None


def weights_file(entry: Any) -> Path:
    """Where torchvision keeps (and looks for) the file of a weights entry: ``torch.hub.get_dir()/checkpoints/``
    plus the URL's file name."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(entry.url).path)


def _reason(err: BaseException) -> str:
    reason = err.reason if isinstance(err, URLError) else err
    return " ".join(str(reason).split()) or type(err).__name__


def fetch_weights(entry: Any, name: Any = None, arch: str = "") -> Path:
    """The cached file of a weights entry, downloaded first when it is not in torch's cache.

    The download is torchvision's own (``torch.hub.download_url_to_file``, its file name's hash prefix
    checked), without the "Downloading: ..." line that torch prints first, so that a failure is one line: a
    :class:`ulmfit.errors.DownloadError` naming the URL and where to place the file on an offline machine.
    name, arch: as the user gave them, for the message.
    """
    dest = weights_file(entry)
    if dest.is_file():
        return dest
    label = f"weights={(name if name is not None else entry)!r}" + (f" for {arch}" if arch else "")
    match = torch.hub.HASH_REGEX.search(dest.name)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(entry.url, str(dest), hash_prefix=match.group(1) if match else None,
                                       progress=True)
    except (OSError, RuntimeError) as err:  # URLError is an OSError; a bad hash prefix a RuntimeError
        raise DownloadError(
            f"{label}: could not download {entry.url} ({_reason(err)}). If this machine is offline, download "
            f"that file elsewhere and place it at {dest} (torch's cache: torch.hub.get_dir() + /checkpoints; "
            "$TORCH_HOME moves it); it is then used without network access") from err
    return dest


def torchvision_model(arch: str, weights: Any = None, **arch_kwargs) -> nn.Module:
    """torchvision's ``arch`` (e.g. ``"resnet34"``), with the pretrained ``weights`` (None: random init).

    As torchvision's builder does with ``weights=``: the model is built for the entry's categories and
    loaded with the entry's state dict, here read from the cached file (:func:`fetch_weights`) with
    ``weights_only=True``. A file that cannot be downloaded or read raises
    :class:`ulmfit.errors.DownloadError` in one line: the URL and the cache path to copy it to, or the bad
    cached file to delete.
    """
    import torchvision

    if weights is None:
        return torchvision.models.get_model(arch, weights=None, **arch_kwargs)
    entry = weights_entry(arch, weights)
    dest = fetch_weights(entry, weights, arch)
    model = torchvision.models.get_model(arch, weights=None,
                                         **{"num_classes": len(entry.meta["categories"]), **arch_kwargs})
    try:
        model.load_state_dict(torch.load(dest, map_location="cpu", weights_only=True))
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as err:  # corrupt or truncated
        raise DownloadError(f"weights={weights!r} for {arch}: the cached file {dest} cannot be used "
                            f"({type(err).__name__}: {_reason(err).split('. ')[0][:120]}); delete it and run again to "
                            "download it afresh") from err
    return model
