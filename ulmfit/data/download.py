"""Downloads into the cache: resumable, verified (size, sha256), safely extracted; standard library HTTP only.

Layout of the cache (``cache_dir()``, ``$ULMFIT_HOME`` or ``~/.cache/ulmfit``)::

    downloads/<filename>           verified files (``<filename>.part`` while downloading; resumed with HTTP Range)
    extracted/<archive stem>/      extracted archives, with a ``.ulmfit_extracted`` marker once complete

A file already in place (for example copied there by hand on an offline machine) is used without any network
access; ``fetch`` returns an extracted folder that has its marker without touching the network at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import stat
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

__all__ = ["DownloadError", "cache_dir", "download", "extract", "fetch", "sha256_file", "archive_stem"]

_CHUNK = 1 << 20
_MARKER = ".ulmfit_extracted"
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar", ".zip")


class DownloadError(RuntimeError):
    """A download, a verification or an extraction failed; the message says why and what to do."""


def cache_dir() -> Path:
    """The cache root: ``$ULMFIT_HOME`` if set, else ``~/.cache/ulmfit``."""
    env = os.environ.get("ULMFIT_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ulmfit"


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def archive_stem(path: str | Path) -> str:
    """``aclImdb_v1.tar.gz`` -> ``aclImdb_v1``: the name without its archive suffix."""
    name = Path(path).name
    for suffix in _ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def _filename_from_url(url: str) -> str:
    name = posixpath.basename(urllib.parse.unquote(urllib.parse.urlparse(url).path))
    return name or "download"


def _verify(path: Path, url: str, sha256: str | None, size: int | None) -> None:
    """Raise DownloadError (after deleting ``path``) when its size or sha256 differs from the expected one."""
    if size is not None:
        actual = path.stat().st_size
        if actual != size:
            path.unlink(missing_ok=True)
            raise DownloadError(
                f"size mismatch for {url}: expected {size} bytes, got {actual} bytes; the file was deleted, "
                "run again to download it afresh"
            )
    if sha256 is not None:
        actual_hash = sha256_file(path)
        if actual_hash.lower() != sha256.lower():
            path.unlink(missing_ok=True)
            raise DownloadError(
                f"sha256 mismatch for {url}: expected {sha256.lower()}, got {actual_hash}; the file was deleted, "
                "run again to download it afresh"
            )


def _unreachable(url: str, dest: Path, reason: object) -> DownloadError:
    return DownloadError(
        f"could not reach {url} ({reason}). If this machine is offline, download the file elsewhere and place it "
        f"at {dest} (the cache is {cache_dir()}, set by $ULMFIT_HOME); it is then used without network access"
    )


def download(
    url: str,
    *,
    filename: str | None = None,
    dest_dir: str | Path | None = None,
    sha256: str | None = None,
    size: int | None = None,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Download ``url`` to ``dest_dir/filename`` (default ``cache_dir()/downloads/<url basename>``) and return it.

    An existing complete file is verified and returned without network access. A partial ``.part`` file is
    resumed with an HTTP Range request (restarted when the server ignores Range). The finished file is checked
    against ``size`` and ``sha256`` when given (on mismatch it is deleted and ``DownloadError`` names the URL,
    the expected and the actual value), then moved into place atomically.
    """
    if not isinstance(url, str) or not url:
        raise ValueError(f"url must be a non-empty string, got {url!r}")
    dest_dir = Path(dest_dir) if dest_dir is not None else cache_dir() / "downloads"
    dest = dest_dir / (filename or _filename_from_url(url))
    if dest.is_file():
        _verify(dest, url, sha256, size)
        return dest
    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    if size is not None and offset > size:
        part.unlink()
        offset = 0

    request = urllib.request.Request(url, headers={"User-Agent": "ulmfit-downloader"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            # Range not satisfiable: the part file already holds everything.
            _verify(part, url, sha256, size)
            os.replace(part, dest)
            return dest
        raise DownloadError(f"downloading {url} failed: HTTP {e.code} {e.reason}") from e
    except OSError as e:  # URLError, timeouts and connection errors are OSErrors
        reason = getattr(e, "reason", e)
        raise _unreachable(url, dest, reason) from e

    with response:
        status = getattr(response, "status", 200)
        if offset and status != 206:
            offset = 0  # the server ignored Range: start over
        length = response.headers.get("Content-Length")
        expected_total = offset + int(length) if length is not None else size
        from tqdm.auto import tqdm

        mode = "ab" if offset else "wb"
        received = offset
        try:
            with open(part, mode) as f, tqdm(
                total=expected_total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                desc=dest.name, disable=not progress, leave=False,
            ) as bar:
                while True:
                    block = response.read(_CHUNK)
                    if not block:
                        break
                    f.write(block)
                    received += len(block)
                    bar.update(len(block))
        except OSError as e:  # URLError, timeouts and connection errors are OSErrors
            raise DownloadError(
                f"downloading {url} was interrupted after {received} bytes ({e}); run again to resume from {part}"
            ) from e
    if length is not None and received < expected_total:
        raise DownloadError(
            f"downloading {url} stopped early: expected {expected_total} bytes, got {received}; "
            f"run again to resume from {part}"
        )
    _verify(part, url, sha256, size)
    os.replace(part, dest)
    return dest


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


def fetch(
    url: str,
    *,
    filename: str | None = None,
    sha256: str | None = None,
    size: int | None = None,
    extract: bool = True,
    dest: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Download ``url`` (see :func:`download`) and, when ``extract``, unpack it once.

    Returns the downloaded file, or the extraction folder (default ``cache_dir()/extracted/<archive stem>``).
    A completed extraction leaves a marker, so later calls return at once and need no network (nor the archive).
    """
    name = filename or _filename_from_url(url)
    if extract:
        out = Path(dest) if dest is not None else cache_dir() / "extracted" / archive_stem(name)
        marker = out / _MARKER
        if marker.is_file():
            return out
    path = download(url, filename=name, sha256=sha256, size=size, progress=progress)
    if not extract:
        return path
    if dest is None and out.exists():
        shutil.rmtree(out)  # a previous extraction into the cache was interrupted
    _extract_fn(path, out)
    marker.write_text(json.dumps({"url": url, "archive": path.name, "sha256": sha256}))
    return out


_extract_fn = extract
