"""Atomic writes, the one implementation: write a unique temporary file beside the target, flush and
fsync it, then ``os.replace`` it into place. A reader sees the old file or the new one, never half of one;
a kill during the write leaves the old file untouched (and at worst an orphaned ``.<name>.*.tmp``)."""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "atomic_write_text", "publish_dir", "remove_orphans"]


def _umask_mode(mode: int) -> int:
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def remove_orphans(path: str | os.PathLike) -> int:
    """Delete temporary files an interrupted :func:`atomic_write` of ``path`` left behind; returns how many.
    Only for targets with a single writer (checkpoints): it would break another writer's write in flight."""
    path = Path(path)
    n = 0
    for orphan in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        orphan.unlink(missing_ok=True)
        n += 1
    return n


def atomic_write(path: str | os.PathLike, writer: Callable[[BinaryIO], None], *, clean_orphans: bool = False) -> Path:
    """Call ``writer(f)`` on a binary file that becomes ``path`` only once it is complete and on disk.

    The file gets the usual permissions (0666 minus the umask). ``clean_orphans`` first removes what a killed
    earlier write of ``path`` left behind (see :func:`remove_orphans`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if clean_orphans:
        remove_orphans(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _umask_mode(0o666))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8", **kwargs) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode(encoding)), **kwargs)


def publish_dir(tmp: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Move the finished folder ``tmp`` to ``dest`` in one rename (same file system). If another process
    published ``dest`` first, its folder is kept and ``tmp`` is removed."""
    tmp, dest = Path(tmp), Path(dest)
    try:
        os.replace(tmp, dest)
    except OSError:
        if not dest.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    _fsync_dir(dest.parent)
    return dest


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
