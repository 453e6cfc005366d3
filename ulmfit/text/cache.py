"""On-disk cache of tokenized corpora, keyed by a fingerprint of the texts + tokenizer spec + versions.

Layout of one entry, ``$ULMFIT_HOME/tokens/<key>/`` (``$ULMFIT_HOME`` defaults to ``~/.cache/ulmfit``):

    strings.json   the distinct tokens, in first-seen order (JSON list of str)
    ids.npy        every token of every document as an index into strings (uint16/uint32)
    offsets.npy    document boundaries: document i is ids[offsets[i]:offsets[i + 1]] (int64, N + 1)
    meta.json      the tokenizer spec, counts and format version

Nothing is pickled (``np.load(allow_pickle=False)``). Entries are written to a temporary folder and renamed
into place, so a crash never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ulmfit.hub.atomic import publish_dir
from ulmfit.hub.cache import cache_root
from ulmfit.text.tokenizer import check_texts

__all__ = ["CachedTokenizer", "TokenCache", "cached_tokenize", "default_cache_dir", "fingerprint"]

CACHE_FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    """``cache_root()/tokens``: ``$ULMFIT_HOME/tokens``, with ``$ULMFIT_HOME`` defaulting to ``~/.cache/ulmfit``."""
    return cache_root() / "tokens"


def _spec_of(tokenizer) -> dict:
    try:
        spec = tokenizer.to_dict()
    except ValueError as e:
        raise ValueError(f"cannot cache the output of this tokenizer: {e}") from None
    model = spec.get("model_file")
    if model:  # a SentencePiece model: its content, not its path, defines the output
        spec = {**spec, "model_sha256": hashlib.sha256(Path(model).read_bytes()).hexdigest()}
        spec.pop("model_file")
    return spec


def fingerprint(texts: Sequence[str], spec: dict) -> str:
    """Hex key of (format version, tokenizer spec, every text in order)."""
    h = hashlib.blake2b(digest_size=20)
    h.update(json.dumps({"cache_format": CACHE_FORMAT_VERSION, "spec": spec}, sort_keys=True).encode())
    for t in texts:
        b = t.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))  # length prefix: ["ab", "c"] != ["a", "bc"]
        h.update(b)
    h.update(len(texts).to_bytes(8, "little"))
    return h.hexdigest()


class TokenCache:
    """A folder of tokenized corpora (see the module docstring for the layout)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    def path(self, key: str) -> Path:
        return self.root / key

    def __contains__(self, key: str) -> bool:
        return (self.path(key) / "meta.json").is_file()

    def load(self, key: str) -> list[list[str]] | None:
        """The token lists stored under ``key``, or None if absent or unreadable (then it is recomputed)."""
        folder = self.path(key)
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            if meta.get("format_version") != CACHE_FORMAT_VERSION:
                return None
            strings = json.loads((folder / "strings.json").read_text(encoding="utf-8"))
            ids = np.load(folder / "ids.npy", allow_pickle=False)
            offsets = np.load(folder / "offsets.npy", allow_pickle=False).tolist()
        except (OSError, ValueError):
            return None
        flat = list(map(strings.__getitem__, ids.tolist()))
        return [flat[a:b] for a, b in zip(offsets[:-1], offsets[1:])]

    def save(self, key: str, token_lists: Sequence[Sequence[str]], spec: dict | None = None) -> Path:
        """Store ``token_lists`` under ``key`` (atomically); returns the entry's folder."""
        table: dict[str, int] = {}
        setdefault = table.setdefault
        ids: list[int] = []
        offsets = [0]
        for toks in token_lists:
            ids.extend([setdefault(t, len(table)) for t in toks])
            offsets.append(len(ids))
        dtype = np.uint16 if len(table) <= 1 << 16 else np.uint32
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.path(key)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=self.root))
        try:
            (tmp / "strings.json").write_text(json.dumps(list(table), ensure_ascii=False), encoding="utf-8")
            np.save(tmp / "ids.npy", np.asarray(ids, dtype=dtype))
            np.save(tmp / "offsets.npy", np.asarray(offsets, dtype=np.int64))
            meta = {"format_version": CACHE_FORMAT_VERSION, "n_docs": len(offsets) - 1, "n_tokens": len(ids),
                    "n_strings": len(table), "spec": spec}
            (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
            if final.exists():
                shutil.rmtree(final, ignore_errors=True)
            publish_dir(tmp, final)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if key not in self:  # another process may have written the same entry first
                raise
        return final


def cached_tokenize(tokenizer, texts: Sequence[str], n_workers: int | None = None,
                    cache_dir: str | os.PathLike | None = None) -> list[list[str]]:
    """``tokenizer.tokenize(texts)``, loaded from the cache when this exact input was tokenized before.

    The key covers the texts, the tokenizer's spec (language, rule names, special tokens; the model's bytes
    for SentencePiece) and the library versions, so any change there is a cache miss.
    """
    texts = check_texts(texts)
    spec = _spec_of(tokenizer)
    key = fingerprint(texts, spec)
    cache = TokenCache(cache_dir)
    hit = cache.load(key)
    if hit is not None:
        return hit
    out = tokenizer.tokenize(texts, n_workers=n_workers)
    cache.save(key, out, spec)
    return out


class CachedTokenizer:
    """Wraps any tokenizer (``Tokenizer``, ``SentencePieceTokenizer``, anything with ``tokenize`` and
    ``to_dict``) so that :meth:`tokenize` is answered from the on-disk cache when the same texts were
    tokenized before with the same spec. Everything else is delegated to the wrapped tokenizer."""

    def __init__(self, tokenizer, cache_dir: str | os.PathLike | None = None):
        self.tokenizer, self.cache_dir = tokenizer, cache_dir

    def tokenize(self, texts: Sequence[str], n_workers: int | None = None) -> list[list[str]]:
        return cached_tokenize(self.tokenizer, texts, n_workers=n_workers, cache_dir=self.cache_dir)

    def __call__(self, text: str) -> list[str]:
        return self.tokenizer(text)

    def __getattr__(self, name: str):
        return getattr(self.tokenizer, name)
