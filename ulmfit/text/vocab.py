"""Vocabulary: token <-> id, built exactly like fastai v2's ``make_vocab``
(``fastai.text.data.make_vocab`` in fastai 2.8.12)."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ulmfit.hub.atomic import atomic_write_text
from ulmfit.text.rules import BOS, PAD, SPECIAL_TOKENS

__all__ = ["Vocab", "FAKE_TOKEN", "ids_dtype"]

FAKE_TOKEN = "xxfake"
VOCAB_FORMAT_VERSION = 1


def ids_dtype(vocab_size: int) -> np.dtype:
    """Smallest unsigned dtype that holds ids ``0 .. vocab_size - 1`` (uint16 up to 65536 entries)."""
    if vocab_size <= 1 << 16:
        return np.dtype(np.uint16)
    if vocab_size <= 1 << 32:
        return np.dtype(np.uint32)
    return np.dtype(np.int64)


class Vocab:
    """Token list ``itos`` plus the reverse lookup ``stoi``; unknown tokens map to ``xxunk`` (id 0).

    ``xxfake`` padding entries are in ``itos`` (they keep the embedding size a multiple of 8) but not in
    ``stoi``, so they are never produced by :meth:`numericalize`.
    """

    def __init__(self, itos: Sequence[str]):
        itos = list(itos)
        for i, t in enumerate(itos):
            if not isinstance(t, str):
                raise TypeError(f"itos[{i}] must be a str, got {type(t).__name__} ({t!r:.60})")
        if not itos:
            raise ValueError("itos must hold at least one token (xxunk at id 0)")
        self.itos: list[str] = itos
        # Like fastai's o2i: the last duplicate wins (only 'xxfake' repeats in a built vocab, and it is left
        # out), and every unknown token maps to id 0.
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(itos) if t != FAKE_TOKEN}
        self.unk_idx = 0

    @classmethod
    def from_itos(cls, itos: Sequence[str]) -> Vocab:
        """A vocab with exactly this id -> token list (no sorting, no padding)."""
        return cls(itos)

    # ---------------------------------------------------------------- building
    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]] | Counter,
        max_vocab: int = 60000,
        min_freq: int = 3,
        special_tokens: Sequence[str] | None = None,
    ) -> Vocab:
        """Build a vocab as fastai's ``make_vocab`` does.

        Tokens are ranked by count (ties: first seen first), the top ``max_vocab`` kept if their count is
        ``>= min_freq``, the special tokens put first (ids 0..8 in fastai's order), the list cut to
        ``max_vocab``, then padded with ``xxfake`` to the next multiple of 8 (always 1 to 8 entries: 16 -> 24).

        token_lists: documents as token lists, or a ready ``collections.Counter`` of token counts.
        """
        if isinstance(max_vocab, bool) or not isinstance(max_vocab, int) or max_vocab < 1:
            raise ValueError(f"max_vocab must be an int >= 1, got {max_vocab!r}")
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 0:
            raise ValueError(f"min_freq must be an int >= 0, got {min_freq!r}")
        specials = list(SPECIAL_TOKENS if special_tokens is None else special_tokens)
        if isinstance(token_lists, Counter):
            counter = token_lists
        else:
            if isinstance(token_lists, str):
                raise TypeError("token_lists must be an iterable of token lists, got a str")
            counter = Counter()
            for i, doc in enumerate(token_lists):
                if isinstance(doc, str) or not isinstance(doc, (list, tuple, np.ndarray)):
                    raise TypeError(f"token_lists[{i}] must be a list of str tokens, got {type(doc).__name__}")
                counter.update(doc)
        kept = [t for t, c in counter.most_common(max_vocab) if c >= min_freq]
        special_set = set(specials)
        itos = specials + [t for t in kept if t not in special_set]
        itos = itos[:max_vocab]
        itos += [FAKE_TOKEN] * (8 - len(itos) % 8)
        return cls(itos)

    # ---------------------------------------------------------------- lookup
    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        return self.stoi.get(token, self.unk_idx)

    @property
    def pad_idx(self) -> int:
        """Id of ``xxpad`` (1 with the default specials)."""
        return self.stoi[PAD] if PAD in self.stoi else 1

    @property
    def bos_idx(self) -> int:
        """Id of ``xxbos`` (2 with the default specials)."""
        return self.stoi[BOS] if BOS in self.stoi else 2

    @property
    def dtype(self) -> np.dtype:
        """Smallest numpy dtype for this vocab's ids (see :func:`ids_dtype`)."""
        return ids_dtype(len(self))

    def numericalize(self, tokens: Sequence[str]) -> list[int]:
        """``tokens (T,) -> ids (T,)``; unknown tokens (and ``xxfake``) -> 0 (``xxunk``)."""
        if isinstance(tokens, str):
            raise TypeError("tokens must be a list of str tokens, got a single str; tokenize it first")
        get, unk = self.stoi.get, self.unk_idx
        return [get(t, unk) for t in tokens]

    def numericalize_many(self, docs: Iterable[Sequence[str]], dtype: np.dtype | None = None) -> list[np.ndarray]:
        """Many documents -> list of 1-D numpy id arrays (dtype: :attr:`dtype` unless given)."""
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        get, unk = self.stoi.get, self.unk_idx
        out = []
        for i, doc in enumerate(docs):
            if isinstance(doc, str):
                raise TypeError(f"docs[{i}] must be a list of str tokens, got a str; tokenize it first")
            out.append(np.fromiter((get(t, unk) for t in doc), dtype=dtype, count=len(doc)))
        return out

    def textify(self, ids: Iterable[int]) -> list[str]:
        """``ids (T,) -> tokens (T,)``. Accepts lists, numpy arrays and 1-D tensors."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        itos, n = self.itos, len(self.itos)
        out = []
        for i in ids:
            if not 0 <= i < n:
                raise IndexError(f"id {i} is out of range for a vocab of {n} tokens (accepted: 0..{n - 1})")
            out.append(itos[i])
        return out

    # ---------------------------------------------------------------- persistence
    def to_dict(self) -> dict:
        return {"format_version": VOCAB_FORMAT_VERSION, "itos": self.itos}

    def save(self, path: str | os.PathLike) -> None:
        """Write ``{"format_version": 1, "itos": [...]}`` as UTF-8 JSON (atomically)."""
        atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocab:
        """Read a file written by :meth:`save` (a bare JSON list of tokens is accepted too)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"vocab file not found: {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"vocab file {path} is not valid UTF-8 JSON: {e}") from None
        itos = data.get("itos") if isinstance(data, dict) else data
        if not isinstance(itos, list) or not itos or not all(isinstance(t, str) for t in itos):
            raise ValueError(f"vocab file {path} must hold {{\"itos\": [token strings]}} "
                             f"(or a JSON list of token strings); got {type(data).__name__}")
        return cls(itos)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens: {self.itos[:10]}...)"
