"""Archives, safely: ``extract`` checks every member before anything is written, ``extract_once`` unpacks
into a temporary folder and renames it into place, so a half-extracted folder is never taken for a finished
one (and a second call returns at once, without the archive)."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path

from ulmfit.errors import DownloadError
from ulmfit.hub.atomic import publish_dir
from ulmfit.hub.cache import cache_root

__all__ = ["ARCHIVE_SUFFIXES", "archive_stem", "extract", "extract_local", "extract_once", "is_extracted"]

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar", ".zip")
_ARCHIVE_SUFFIXES = ARCHIVE_SUFFIXES
_MARKER = ".ulmfit_extracted"


def archive_stem(path: str | Path) -> str:
    """``aclImdb_v1.tar.gz`` -> ``aclImdb_v1``: the name without its archive suffix."""
    name = Path(path).name
    for suffix in _ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def _inside(root: Path, target: str) -> bool:
    """Whether ``root / target`` (lexically normalised, no symlink resolution) stays inside ``root``."""
    root_abs = os.path.abspath(root)
    full = os.path.abspath(os.path.join(root_abs, target))
    return full == root_abs or full.startswith(root_abs + os.sep)


def _check_member_name(archive: Path, name: str) -> None:
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
        raise DownloadError(
            f"refusing to extract {archive}: member {name!r} has an absolute path or '..' and would be written "
            "outside the target folder"
        )


def _safe_tar_members(archive: Path, tf: tarfile.TarFile, dest: Path) -> list[tarfile.TarInfo]:
    members = tf.getmembers()
    for m in members:
        _check_member_name(archive, m.name)
        if not _inside(dest, m.name):
            raise DownloadError(f"refusing to extract {archive}: member {m.name!r} escapes the target folder")
        if m.issym():
            link_dir = posixpath.dirname(m.name)
            if m.linkname.startswith("/") or not _inside(dest, posixpath.join(link_dir, m.linkname)):
                raise DownloadError(
                    f"refusing to extract {archive}: symlink {m.name!r} -> {m.linkname!r} points outside the "
                    "target folder"
                )
        elif m.islnk():
            if m.linkname.startswith("/") or not _inside(dest, m.linkname):
                raise DownloadError(
                    f"refusing to extract {archive}: hard link {m.name!r} -> {m.linkname!r} points outside the "
                    "target folder"
                )
        elif not (m.isfile() or m.isdir()):
            raise DownloadError(
                f"refusing to extract {archive}: member {m.name!r} is a device or fifo, which archives of data "
                "never need"
            )
    return members


def extract(archive: str | Path, dest: str | Path) -> Path:
    """Extract a .tar.gz/.tgz/.tar(.bz2/.xz)/.zip ``archive`` into the folder ``dest`` and return ``dest``.

    Every member is checked first: absolute paths, ``..`` components, and symlinks or hard links that point
    outside ``dest`` are refused with ``DownloadError`` (nothing is extracted then).
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise FileNotFoundError(f"archive {archive} not found")
    name = archive.name.lower()
    dest.mkdir(parents=True, exist_ok=True)
    if name.endswith(".zip"):
        try:
            zf = zipfile.ZipFile(archive)
        except zipfile.BadZipFile as e:
            raise DownloadError(f"{archive} is not a valid zip file ({e})") from e
        with zf:
            for info in zf.infolist():
                _check_member_name(archive, info.filename)
                if not _inside(dest, info.filename):
                    raise DownloadError(
                        f"refusing to extract {archive}: member {info.filename!r} escapes the target folder"
                    )
                if stat.S_ISLNK(info.external_attr >> 16):
                    target = zf.read(info).decode("utf-8", "replace")
                    link_dir = posixpath.dirname(info.filename)
                    if target.startswith("/") or not _inside(dest, posixpath.join(link_dir, target)):
                        raise DownloadError(
                            f"refusing to extract {archive}: symlink {info.filename!r} -> {target!r} points "
                            "outside the target folder"
                        )
            zf.extractall(dest)
        return dest
    if name.endswith(_ARCHIVE_SUFFIXES):
        try:
            tf = tarfile.open(archive)
        except tarfile.TarError as e:
            raise DownloadError(f"{archive} is not a valid tar archive ({e})") from e
        with tf:
            members = _safe_tar_members(archive, tf, dest)
            if hasattr(tarfile, "data_filter"):
                tf.extractall(dest, members=members, filter="data")
            else:  # pragma: no cover - Python without PEP 706 filters; members were checked above
                tf.extractall(dest, members=members)
        return dest
    raise DownloadError(
        f"cannot extract {archive}: unknown archive type; accepted: {', '.join(_ARCHIVE_SUFFIXES)}"
    )


def extract_once(archive: str | os.PathLike, dest: str | os.PathLike, record: dict | None = None) -> Path:
    """Extract ``archive`` into ``dest`` unless a completed extraction is already there; returns ``dest``.

    The archive is unpacked into a temporary folder beside ``dest``, a marker (``record`` as JSON) is written
    into it, and the folder is renamed to ``dest``. A ``dest`` without the marker (an interrupted run of an
    older version) is removed and extracted again.
    """
    archive, dest = Path(archive), Path(dest)
    if is_extracted(dest):
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
    try:
        extract(archive, tmp)
        (tmp / _MARKER).write_text(json.dumps(record or {"archive": str(archive)}))
        return publish_dir(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def is_extracted(dest: str | os.PathLike) -> bool:
    """Whether ``dest`` holds a completed :func:`extract_once` (its marker is there)."""
    return (Path(dest) / _MARKER).is_file()


def extract_local(archive: str | os.PathLike) -> Path:
    """Extract a local archive once into ``cache_root()/extracted/<stem>-<key>``; the key covers the archive's
    resolved path, size and modification time, so an edited archive is extracted again."""
    archive = Path(archive)
    st = archive.stat()
    key = hashlib.sha256(f"{archive.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
    dest = cache_root() / "extracted" / f"{archive_stem(archive)}-{key}"
    return extract_once(archive, dest, record={"archive": str(archive.resolve())})
