"""Downloads live in :mod:`ulmfit.hub.download` (the neutral layer under everything); this module keeps
the ``ulmfit.data`` names working."""

from ulmfit.hub.archive import archive_stem, extract
from ulmfit.hub.download import DownloadError, cache_dir, download, fetch, sha256_file

__all__ = ["DownloadError", "archive_stem", "cache_dir", "download", "extract", "fetch", "sha256_file"]
