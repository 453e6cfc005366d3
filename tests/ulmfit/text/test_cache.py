"""Token cache: a hit on the second call, a miss when the input or the rules change, robust storage."""

import os
from pathlib import Path

import pytest

from ulmfit.text import Tokenizer
from ulmfit.text import cache as C

TEXTS = ["Hello World!!!", "", "Line one\n\nline TWO\tand  more", "日本語 ok 😀😀😀", "xxbos already"]


def _entries(root):
    return sorted(p.name for p in root.iterdir() if not p.name.startswith("."))


def test_hit_on_second_call(tmp_path, monkeypatch):
    tok = Tokenizer()
    first = C.cached_tokenize(tok, TEXTS, n_workers=1, cache_dir=tmp_path)
    assert first == tok.tokenize(TEXTS, n_workers=1)
    assert len(_entries(tmp_path)) == 1

    def boom(*a, **k):
        raise AssertionError("should have been a cache hit")

    monkeypatch.setattr(tok, "tokenize", boom)
    assert C.cached_tokenize(tok, TEXTS, n_workers=1, cache_dir=tmp_path) == first


def test_miss_when_rules_or_texts_change(tmp_path):
    C.cached_tokenize(Tokenizer(), TEXTS, cache_dir=tmp_path, n_workers=1)
    strict = C.cached_tokenize(Tokenizer(fix_html_quirks=False), TEXTS, cache_dir=tmp_path, n_workers=1)
    assert len(_entries(tmp_path)) == 2
    assert strict == Tokenizer(fix_html_quirks=False).tokenize(TEXTS, n_workers=1)
    C.cached_tokenize(Tokenizer(), TEXTS[:-1], cache_dir=tmp_path, n_workers=1)
    C.cached_tokenize(Tokenizer(), ["ab", "c"], cache_dir=tmp_path, n_workers=1)
    C.cached_tokenize(Tokenizer(), ["a", "bc"], cache_dir=tmp_path, n_workers=1)
    assert len(_entries(tmp_path)) == 5


def test_default_location_and_cached_tokenizer_wrapper(tmp_path):
    # tests/conftest.py points $ULMFIT_HOME at a temporary folder.
    root = C.default_cache_dir()
    assert root == Path(os.environ["ULMFIT_HOME"]) / "tokens"
    tok = Tokenizer()
    cached = C.CachedTokenizer(tok)
    out = cached.tokenize(TEXTS, n_workers=1)
    assert out == tok.tokenize(TEXTS, n_workers=1)
    assert len(_entries(root)) == 1
    assert cached.tokenize(TEXTS, n_workers=1) == out
    assert cached.to_dict() == tok.to_dict() and cached(TEXTS[0]) == tok(TEXTS[0])  # the rest is delegated


def test_corrupt_entry_is_recomputed(tmp_path):
    tok = Tokenizer()
    out = C.cached_tokenize(tok, TEXTS, cache_dir=tmp_path, n_workers=1)
    (entry,) = _entries(tmp_path)
    (tmp_path / entry / "ids.npy").write_bytes(b"garbage")
    assert C.cached_tokenize(tok, TEXTS, cache_dir=tmp_path, n_workers=1) == out


def test_custom_rule_cannot_be_cached(tmp_path):
    with pytest.raises(ValueError, match="cannot cache"):
        C.cached_tokenize(Tokenizer(rules=[str.lower]), TEXTS, cache_dir=tmp_path)


def test_many_distinct_tokens_use_wider_ids(tmp_path):
    cache = C.TokenCache(tmp_path)
    docs = [[f"w{i}" for i in range(70_000)], ["a"]]
    cache.save("k", docs)
    assert cache.load("k") == docs
    assert cache.load("absent") is None
