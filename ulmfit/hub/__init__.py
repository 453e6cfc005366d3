"""The neutral layer under everything (it imports nothing above it): one cache root, downloads, safe
archive extraction, atomic writes, the saved-model folder format and the pretrained-model registry (data)."""

from ulmfit.hub.archive import archive_stem, extract, extract_once
from ulmfit.hub.atomic import atomic_write, atomic_write_text, publish_dir
from ulmfit.hub.cache import cache_root
from ulmfit.hub.download import DownloadError, fetch, sha256_file

__all__ = ["DownloadError", "archive_stem", "atomic_write", "atomic_write_text", "cache_root",
           "extract", "extract_once", "fetch", "publish_dir", "sha256_file"]
