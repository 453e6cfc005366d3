"""The one cache root: ``$ULMFIT_HOME`` (``~`` expanded), else ``~/.cache/ulmfit``. Downloads, extracted
archives and the token cache all live under it."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    env = os.environ.get("ULMFIT_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ulmfit"
