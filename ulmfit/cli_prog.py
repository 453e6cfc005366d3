"""How to write a command so that it runs as printed in the user's shell.

After ``bash scripts/dev.sh demo`` the ``ulmfit`` script lives in ``.venv/bin``, which is on ``PATH`` only
in an activated shell. :func:`runnable` gives the shortest spelling of a console script of *this*
environment that the user's shell will find: the bare name when ``PATH`` resolves it to this
environment's script, else its path (relative to the working directory when inside it).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["runnable"]


def _same(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def runnable(script: str = "ulmfit") -> str:
    """``"ulmfit"`` if the shell finds this environment's ``ulmfit``, else e.g. ``".venv/bin/ulmfit"``;
    ``python -m ulmfit.cli`` (this interpreter) when the environment has no such script."""
    bin_dir = Path(sys.executable).parent
    own = bin_dir / script
    if not own.is_file():  # not installed as a console script (e.g. PYTHONPATH checkout)
        module = "vision.cli" if script == "ulmfit-vision" else "ulmfit.cli"
        return f"{sys.executable} -m {module}"
    found = shutil.which(script)
    if found is not None and _same(found, own):
        return script
    try:
        rel = own.relative_to(Path.cwd())
        return str(rel) if rel.parts[0] != ".." else str(own)
    except ValueError:
        return str(own)
