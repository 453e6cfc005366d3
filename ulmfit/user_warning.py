"""Warnings that point at the user's line: the first caller outside the toolkit's packages and torch.

A fixed ``stacklevel`` is right for one call path only: the same data check is reached from
``load_dataset``, from ``TextClassifier.train`` and from the command line, and a warning raised inside a
module's ``forward`` would name a line of ``torch.nn.Module``. :func:`warn` walks the stack instead, so the
file and line the warning prints (and that ``warnings`` filters on) are the user's own.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings

__all__ = ["warn"]

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the folder holding ulmfit/, vision/, ...
_TORCH = importlib.util.find_spec("torch")  # found without importing it
_INTERNAL = tuple(os.path.join(_ROOT, package) + os.sep for package in ("ulmfit", "vision", "pretrained")) + tuple(
    os.path.abspath(folder) + os.sep for folder in (_TORCH.submodule_search_locations or [] if _TORCH else [])
)


def _internal(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_INTERNAL)


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)`` attributed to the nearest frame outside ulmfit, vision,
    pretrained and torch (the outermost frame when there is none, e.g. ``python -m ulmfit``)."""
    frame, level = sys._getframe(1), 2  # stacklevel 2 is warn()'s caller
    while frame.f_back is not None and _internal(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
