"""Text processing: rules, tokenizers (spaCy with fastai parity, SentencePiece), vocabulary, token cache.

spaCy and sentencepiece are imported only when a tokenizer is built or used.
"""

from __future__ import annotations

from ulmfit.text.cache import CachedTokenizer, TokenCache, cached_tokenize
from ulmfit.text.rules import (
    BOS,
    EOS,
    FLD,
    PAD,
    SPECIAL_TOKENS,
    TK_MAJ,
    TK_REP,
    TK_UP,
    TK_WREP,
    UNK,
)
from ulmfit.text.sentencepiece import SentencePieceTokenizer
from ulmfit.text.tokenizer import Tokenizer
from ulmfit.text.vocab import Vocab

__all__ = [
    "Tokenizer", "SentencePieceTokenizer", "Vocab", "tokenizer_from_dict", "CachedTokenizer", "TokenCache",
    "cached_tokenize",
    "UNK", "PAD", "BOS", "EOS", "FLD", "TK_REP", "TK_WREP", "TK_UP", "TK_MAJ", "SPECIAL_TOKENS",
]


def tokenizer_from_dict(d: dict, folder=None) -> Tokenizer | SentencePieceTokenizer:
    """Rebuild either tokenizer from its ``to_dict()`` spec (``tokenizer.json``), dispatching on ``d["type"]``.

    folder: the saved model folder; a SentencePiece model path in the spec is relative to it.
    """
    if isinstance(d, dict) and d.get("type") == "sentencepiece":
        return SentencePieceTokenizer.from_dict(d, folder=folder)
    return Tokenizer.from_dict(d)
