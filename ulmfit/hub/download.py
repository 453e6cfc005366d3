"""Downloads into the cache: resumable, verified (size, sha256), safely extracted; standard library HTTP only.

Layout of the cache (``cache_dir()``, ``$ULMFIT_HOME`` or ``~/.cache/ulmfit``)::

    downloads/<filename>           verified files (``<filename>.part`` while downloading; resumed with HTTP Range)
    extracted/<archive stem>/      extracted archives, with a ``.ulmfit_extracted`` marker once complete

A file already in place (for example copied there by hand on an offline machine) is used without any network
access; ``fetch`` returns an extracted folder that has its marker without touching the network at all.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ulmfit.errors import DownloadError
from ulmfit.hub.archive import archive_stem, extract, extract_once, is_extracted
from ulmfit.hub.cache import cache_root
from ulmfit.user_warning import warn

__all__ = ["DownloadError", "UnverifiedDownloadWarning", "cache_dir", "download", "extract", "fetch", "sha256_file",
           "archive_stem"]

_CHUNK = 1 << 20


class UnverifiedDownloadWarning(UserWarning):
    """A file is downloaded without a known checksum (the built-in datasets and fastai's WT103 models have
    none published): it cannot be checked against tampering in transit or on the server."""


def cache_dir() -> Path:
    """The cache root (:func:`ulmfit.hub.cache.cache_root`): ``$ULMFIT_HOME`` if set, else ``~/.cache/ulmfit``."""
    return cache_root()


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


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

    if sha256 is None:  # said once the server answered (an offline failure is one line, not a warning too)
        warn(f"{url}: no sha256 is known for this file, so it is used unverified"
             + ("" if size is not None else " (not even its size)"), UnverifiedDownloadWarning)
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
    out = Path(dest) if dest is not None else cache_dir() / "extracted" / archive_stem(name)
    if extract and is_extracted(out):
        return out
    path = download(url, filename=name, sha256=sha256, size=size, progress=progress)
    if not extract:
        return path
    return extract_once(path, out, record={"url": url, "archive": path.name, "sha256": sha256})
