"""Archives, safely: ``extract`` checks every member before anything is written, ``extract_once`` unpacks
into a temporary folder and renames it into place, so a half-extracted folder is never taken for a finished
one (and a second call returns at once, without the archive)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path

from ulmfit.errors import DownloadError
from ulmfit.hub.atomic import publish_dir
from ulmfit.hub.cache import cache_root

__all__ = ["ARCHIVE_SUFFIXES", "MAX_BYTES", "MAX_MEMBERS", "MAX_RATIO", "archive_stem", "extract", "extract_local",
           "extract_once", "is_extracted"]

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar", ".zip")
_MARKER = ".ulmfit_extracted"


def archive_stem(path: str | Path) -> str:
    """``aclImdb_v1.tar.gz`` -> ``aclImdb_v1``: the name without its archive suffix."""
    name = Path(path).name
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


# Limits on what one archive may expand to (a zip bomb is refused before anything is written). Each can be
# raised per call (``extract(..., max_bytes=...)``) or for a whole session through the environment.
MAX_BYTES = 64 * 2**30        # 64 GiB of extracted file data   ($ULMFIT_EXTRACT_MAX_BYTES)
MAX_MEMBERS = 2_000_000       # files and folders                ($ULMFIT_EXTRACT_MAX_MEMBERS)
MAX_RATIO = 200.0             # extracted bytes / archive bytes  ($ULMFIT_EXTRACT_MAX_RATIO); text is < 15
_SMALL = 1 << 20              # archives expanding to under 1 MiB are never refused for their ratio


def _limit(value, env: str, default):
    if value is not None:
        return value
    raw = os.environ.get(env)
    if raw is None:
        return default
    try:
        return type(default)(float(raw))
    except ValueError:
        raise DownloadError(f"${env}={raw!r} is not a number") from None


def _inside(root: Path, target: str) -> bool:
    """Whether ``root / target`` (lexically normalised, no symlink resolution) stays inside ``root``."""
    root_abs = os.path.abspath(root)
    full = os.path.abspath(os.path.join(root_abs, target))
    return full == root_abs or full.startswith(root_abs + os.sep)


def _check_member_name(archive: Path, name: str, dest: Path) -> None:
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts or "\0" in name:
        raise DownloadError(
            f"refusing to extract {archive}: member {name!r} has an absolute path or '..' and would be written "
            "outside the target folder"
        )
    if not _inside(dest, name):
        raise DownloadError(f"refusing to extract {archive}: member {name!r} escapes the target folder")


def _refuse_link(archive: Path, name: str, kind: str, target: str) -> None:
    # Data archives never need links, and a link is how every known escape works (e.g. CVE-2025-4517's
    # symlink chain longer than PATH_MAX, which defeats realpath-based checks and tarfile's "data" filter).
    raise DownloadError(
        f"refusing to extract {archive}: {kind} {name!r} -> {target!r}; links are not accepted in data archives "
        "(a link can make later members land outside the target folder). Unpack it yourself if you trust it, "
        "and pass the folder"
    )


def _check_totals(archive: Path, n_members: int, n_bytes: int, max_bytes, max_members, max_ratio) -> None:
    max_bytes = _limit(max_bytes, "ULMFIT_EXTRACT_MAX_BYTES", MAX_BYTES)
    max_members = _limit(max_members, "ULMFIT_EXTRACT_MAX_MEMBERS", MAX_MEMBERS)
    max_ratio = _limit(max_ratio, "ULMFIT_EXTRACT_MAX_RATIO", MAX_RATIO)
    if n_members > max_members:
        raise DownloadError(f"refusing to extract {archive}: {n_members:,} members exceed the limit of "
                            f"{max_members:,} (raise it with max_members= or $ULMFIT_EXTRACT_MAX_MEMBERS)")
    if n_bytes > max_bytes:
        raise DownloadError(f"refusing to extract {archive}: it would expand to {n_bytes:,} bytes, over the limit "
                            f"of {max_bytes:,} (raise it with max_bytes= or $ULMFIT_EXTRACT_MAX_BYTES)")
    size = max(1, archive.stat().st_size)
    if n_bytes > _SMALL and n_bytes / size > max_ratio:
        raise DownloadError(f"refusing to extract {archive}: {size:,} bytes would expand to {n_bytes:,} "
                            f"({n_bytes / size:,.0f}x, over the limit of {max_ratio:g}x: a zip bomb?); raise it "
                            "with max_ratio= or $ULMFIT_EXTRACT_MAX_RATIO if you trust the archive")


def _safe_tar_members(archive: Path, tf: tarfile.TarFile, dest: Path, limits: tuple) -> list[tarfile.TarInfo]:
    members = tf.getmembers()
    for m in members:
        _check_member_name(archive, m.name, dest)
        if m.issym():
            _refuse_link(archive, m.name, "symlink", m.linkname)
        if m.islnk():
            _refuse_link(archive, m.name, "hard link", m.linkname)
        if not (m.isfile() or m.isdir()):
            raise DownloadError(
                f"refusing to extract {archive}: member {m.name!r} is a device or fifo, which archives of data "
                "never need"
            )
    _check_totals(archive, len(members), sum(m.size for m in members if m.isfile()), *limits)
    return members


def _check_extracted(archive: Path, dest: Path) -> None:
    """Defence in depth: after extraction nothing under ``dest`` is a link or resolves outside it."""
    root = os.path.realpath(dest)
    for folder, dirs, files in os.walk(dest):
        for name in dirs + files:
            path = os.path.join(folder, name)
            real = os.path.realpath(path)
            if os.path.islink(path) or not (real == root or real.startswith(root + os.sep)):
                raise DownloadError(f"refusing {archive}: {path} is a link or leaves the target folder")


def extract(archive: str | Path, dest: str | Path, *, max_bytes: int | None = None, max_members: int | None = None,
            max_ratio: float | None = None) -> Path:
    """Extract a .tar.gz/.tgz/.tar(.bz2/.xz)/.zip ``archive`` into the folder ``dest`` and return ``dest``.

    Every member is checked before anything is written, and the archive is refused (``DownloadError`` naming
    it, nothing extracted) for: absolute paths or ``..``; any symbolic or hard link; devices and fifos; more
    than ``max_members`` members, more than ``max_bytes`` of file data, or more than ``max_ratio`` times the
    archive's own size (defaults :data:`MAX_MEMBERS`, :data:`MAX_BYTES`, :data:`MAX_RATIO`, or the
    ``$ULMFIT_EXTRACT_MAX_*`` variables). Prefer :func:`extract_once`, which also never leaves half a folder.
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise FileNotFoundError(f"archive {archive} not found")
    limits = (max_bytes, max_members, max_ratio)
    name = archive.name.lower()
    dest.mkdir(parents=True, exist_ok=True)
    if name.endswith(".zip"):
        try:
            zf = zipfile.ZipFile(archive)
        except zipfile.BadZipFile as e:
            raise DownloadError(f"{archive} is not a valid zip file ({e})") from e
        with zf:
            infos = zf.infolist()
            for info in infos:
                _check_member_name(archive, info.filename, dest)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    _refuse_link(archive, info.filename, "symlink", zf.read(info).decode("utf-8", "replace"))
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                    raise DownloadError(f"refusing to extract {archive}: member {info.filename!r} is not a regular "
                                        "file or folder")
            # ZipFile never writes more than a member's declared file_size, so the declared sizes bound the output
            _check_totals(archive, len(infos), sum(i.file_size for i in infos), *limits)
            zf.extractall(dest)
        _check_extracted(archive, dest)
        return dest
    if name.endswith(ARCHIVE_SUFFIXES):
        try:
            tf = tarfile.open(archive)
        except tarfile.TarError as e:
            raise DownloadError(f"{archive} is not a valid tar archive ({e})") from e
        with tf:
            members = _safe_tar_members(archive, tf, dest, limits)
            if hasattr(tarfile, "data_filter"):
                tf.extractall(dest, members=members, filter="data")
            else:  # pragma: no cover - Python without PEP 706 filters; members were checked above
                tf.extractall(dest, members=members)
        _check_extracted(archive, dest)
        return dest
    raise DownloadError(
        f"cannot extract {archive}: unknown archive type; accepted: {', '.join(ARCHIVE_SUFFIXES)}"
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
