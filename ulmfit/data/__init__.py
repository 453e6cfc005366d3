"""Data: sources (IMDb, TREC, CSV/JSONL, class folders, plain text, Hugging Face), downloads and loaders."""

from ulmfit.data.clas_loader import ClassificationLoader, pad_chunk, restore_order, sortish_order
from ulmfit.data.download import DownloadError, cache_dir, download, extract, fetch
from ulmfit.data.lm_loader import LMLoader, load_stream, save_stream
from ulmfit.data.sources import (
    BUILTIN_SOURCES,
    DataWarning,
    SourceError,
    TextDataset,
    load_source,
    split_train_valid,
)

__all__ = [
    "LMLoader",
    "ClassificationLoader",
    "pad_chunk",
    "sortish_order",
    "restore_order",
    "save_stream",
    "load_stream",
    "TextDataset",
    "load_source",
    "split_train_valid",
    "BUILTIN_SOURCES",
    "DataWarning",
    "SourceError",
    "DownloadError",
    "cache_dir",
    "download",
    "extract",
    "fetch",
]
