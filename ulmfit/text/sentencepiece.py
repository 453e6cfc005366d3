"""SentencePiece subword tokenizer with the same pre-rules as :class:`ulmfit.text.Tokenizer`.

Follows fastai's ``SentencePieceTokenizer`` set-up: the special tokens are ``user_defined_symbols`` written
``▁xxbos``, ``▁xxmaj``, ... (so each survives as a single piece), ``<unk>`` gets the id after them, and no
pad/bos/eos pieces are reserved (``xxbos`` comes from the ``lowercase`` rule instead).

Every Python ``str`` is accepted: lone surrogates (which UTF-8, and so sentencepiece, cannot encode) are
replaced by U+FFFD before the rules run, when training and when encoding (see
:func:`ulmfit.text.tokenizer.replace_unencodable`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ulmfit.text.rules import DEFAULT_PRE_RULES, SPECIAL_TOKENS, Rule, apply_rules, get_rule, rule_name
from ulmfit.text.tokenizer import ONE_TEXT, check_texts, default_n_workers, replace_unencodable

__all__ = ["SentencePieceTokenizer"]

SPEC_TYPE = "sentencepiece"
SPEC_FORMAT_VERSION = 1
MODEL_FILE = "spm.model"
# Languages written with a small alphabet get a near-total character coverage (as fastai does).
_EU_LANGS = {"bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "ga", "hr", "hu", "it", "lt", "lv",
             "mt", "nl", "pl", "pt", "ro", "sk", "sl", "sv"}
_MODEL_TYPES = ("unigram", "bpe", "char", "word")


def _spm():
    try:
        import sentencepiece
    except ImportError as e:  # pragma: no cover - declared dependency
        raise ImportError("SentencePieceTokenizer needs sentencepiece: pip install sentencepiece") from e
    return sentencepiece


class SentencePieceTokenizer:
    """Pre-rules, then a trained SentencePiece model.

    Build one with :meth:`train`, or load one: ``SentencePieceTokenizer(model_path)``.
    ``tok(text) -> list[str]`` pieces; ``tok.tokenize(texts) -> list[list[str]]``; ``tok.encode(text) -> ids``;
    ``tok.decode(pieces or ids) -> str``. Any ``str`` is accepted: lone surrogates become U+FFFD first, so
    the pieces are the same one text at a time and in a batch.
    """

    def __init__(self, model_path: str | os.PathLike, lang: str = "en", rules: Sequence[Rule] | None = None,
                 special_tokens: Sequence[str] | None = None):
        model_path = Path(model_path)
        if not model_path.is_file():
            raise FileNotFoundError(f"SentencePiece model file not found: {model_path} "
                                    f"(train one with SentencePieceTokenizer.train)")
        self.model_path = model_path
        self.lang = lang
        self.rules: list[Rule] = list(DEFAULT_PRE_RULES if rules is None else rules)
        self.special_tokens: list[str] = list(SPECIAL_TOKENS if special_tokens is None else special_tokens)
        sp = _spm().SentencePieceProcessor()
        try:
            ok = sp.Load(str(model_path))
        except (OSError, RuntimeError) as e:
            raise ValueError(f"{model_path} is not a SentencePiece model file: {e}") from None
        if ok is False:
            raise ValueError(f"{model_path} is not a SentencePiece model file")
        self.sp = sp

    # ---------------------------------------------------------------- training
    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        vocab_size: int = 30000,
        model_type: str = "unigram",
        out_dir: str | os.PathLike = ".",
        lang: str = "en",
        rules: Sequence[Rule] | None = None,
        special_tokens: Sequence[str] | None = None,
        character_coverage: float | None = None,
        hard_vocab_limit: bool = True,
        max_sentence_length: int = 1 << 16,
        input_sentence_size: int = 0,
        seed: int | None = None,
    ) -> SentencePieceTokenizer:
        """Train on ``texts`` (pre-rules applied first) and save ``out_dir/spm.model`` (+ ``spm.vocab``).

        vocab_size: pieces in the model, special tokens and ``<unk>`` included.
        hard_vocab_limit: if True, a ``vocab_size`` the corpus cannot fill is an error (``ValueError`` that says
            the largest size sentencepiece accepts); if False, sentencepiece silently makes a smaller model.
        input_sentence_size: sample this many lines for training (0 = all).
        """
        texts = check_texts(texts)
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}")
        if model_type not in _MODEL_TYPES:
            raise ValueError(f"model_type must be one of {_MODEL_TYPES}, got {model_type!r}")
        if not texts:
            raise ValueError("texts is empty: SentencePiece needs some text to train on")
        rules = list(DEFAULT_PRE_RULES if rules is None else rules)
        specials = list(SPECIAL_TOKENS if special_tokens is None else special_tokens)
        n_reserved = len(specials) + 1  # + <unk>
        if vocab_size <= n_reserved:
            raise ValueError(f"vocab_size={vocab_size} leaves no room for pieces: it must exceed the "
                             f"{n_reserved} special tokens and <unk>")
        if character_coverage is None:
            character_coverage = 0.99999 if lang in _EU_LANGS else 0.9998
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        spm = _spm()
        with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
            raw = Path(tmp) / "texts.txt"
            with open(raw, "w", encoding="utf-8") as f:
                for t in texts:
                    t = replace_unencodable(t)
                    for rule in rules:
                        t = rule(t)
                    f.write(t + "\n")
            kwargs = dict(
                input=str(raw), model_prefix=str(Path(tmp) / "spm"), vocab_size=vocab_size,
                character_coverage=character_coverage, model_type=model_type, unk_id=len(specials),
                pad_id=-1, bos_id=-1, eos_id=-1, minloglevel=2, hard_vocab_limit=hard_vocab_limit,
                user_defined_symbols=["\u2581" + s for s in specials], max_sentence_length=max_sentence_length,
                input_sentence_size=input_sentence_size, shuffle_input_sentence=True,
                num_threads=default_n_workers(),
            )
            if seed is not None and hasattr(spm, "set_random_generator_seed"):
                spm.set_random_generator_seed(seed)
            try:
                spm.SentencePieceTrainer.Train(**kwargs)
            except RuntimeError as e:
                msg = str(e)
                if "too small" in msg.lower() or "required_chars" in msg:
                    raise ValueError(
                        f"vocab_size={vocab_size} is too small for the characters of this corpus; "
                        f"sentencepiece says: {msg.strip()} Raise vocab_size or lower character_coverage."
                    ) from None
                if "too high" in msg.lower():
                    limit = re.search(r"<= *(\d+)", msg)
                    most = f"at most {limit[1]}" if limit else f"fewer (sentencepiece says: {msg.strip()})"
                    raise ValueError(
                        f"vocab_size={vocab_size} is too large for this corpus ({len(texts)} texts): it fills "
                        f"{most}. Lower vocab_size, add text, or pass hard_vocab_limit=False to accept a "
                        "smaller vocabulary."
                    ) from None
                raise ValueError(f"SentencePiece training failed: {msg.strip()}") from None
            for ext in ("model", "vocab"):
                os.replace(Path(tmp) / f"spm.{ext}", out_dir / f"spm.{ext}")
        return cls(out_dir / MODEL_FILE, lang=lang, rules=rules, special_tokens=specials)

    # ---------------------------------------------------------------- encoding
    def preprocess(self, text: str) -> str:
        """Apply the pre-rules to one raw text (after :func:`replace_unencodable`)."""
        return apply_rules(replace_unencodable(text), self.rules)

    def __call__(self, text: str) -> list[str]:
        """One text -> pieces (``list[str]``)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__} ({text!r:.60})")
        return self.sp.EncodeAsPieces(self.preprocess(text))

    def tokenize(self, texts: Sequence[str], n_workers: int | None = None) -> list[list[str]]:
        """Texts -> piece lists (sentencepiece's own threads do the encoding)."""
        texts = check_texts(texts, one=ONE_TEXT)
        pre = [self.preprocess(t) for t in texts]
        n = default_n_workers() if n_workers is None else max(1, int(n_workers))
        return self.sp.encode(pre, out_type=str, num_threads=n)

    def encode(self, text: str) -> list[int]:
        """One text -> sentencepiece ids (the model's own numbering, not a :class:`Vocab`'s)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__} ({text!r:.60})")
        return self.sp.EncodeAsIds(self.preprocess(text))

    def decode(self, pieces_or_ids: Sequence[str] | Sequence[int]) -> str:
        """Pieces or ids -> the pre-processed text (rules are not undone: ``xxbos xxmaj hello``)."""
        seq = list(pieces_or_ids)
        if not seq:
            return ""
        if all(isinstance(p, str) for p in seq):
            return self.sp.DecodePieces(seq)
        if all(isinstance(p, int) for p in seq):
            return self.sp.DecodeIds(seq)
        raise TypeError("decode takes a list of str pieces or a list of int ids, not a mix")

    @property
    def vocab_size(self) -> int:
        return self.sp.GetPieceSize()

    def pieces(self) -> list[str]:
        """All pieces of the model in id order."""
        return [self.sp.IdToPiece(i) for i in range(self.sp.GetPieceSize())]

    # ---------------------------------------------------------------- (de)serialisation
    def to_dict(self, folder: str | os.PathLike | None = None) -> dict:
        """JSON-able spec. With ``folder`` (a saved model folder) the ``.model`` file is copied there if it is
        not inside it already, and its path is stored relative to the folder."""
        import sentencepiece

        from ulmfit.version import __version__

        model_path = self.model_path.resolve()
        if folder is not None:
            folder = Path(folder).resolve()
            folder.mkdir(parents=True, exist_ok=True)
            try:
                rel = model_path.relative_to(folder)
            except ValueError:
                shutil.copyfile(model_path, folder / MODEL_FILE)
                rel = Path(MODEL_FILE)
            model_file = rel.as_posix()
        else:
            model_file = str(model_path)
        return {
            "type": SPEC_TYPE,
            "format_version": SPEC_FORMAT_VERSION,
            "lang": self.lang,
            "model_file": model_file,
            "rules": [rule_name(r) for r in self.rules],
            "special_tokens": list(self.special_tokens),
            "vocab_size": self.vocab_size,
            "ulmfit_version": __version__,
            "sentencepiece_version": sentencepiece.__version__,
        }

    @classmethod
    def from_dict(cls, d: dict, folder: str | os.PathLike | None = None) -> SentencePieceTokenizer:
        """Rebuild from :meth:`to_dict` output; a relative ``model_file`` is resolved against ``folder``."""
        if not isinstance(d, dict):
            raise TypeError(f"tokenizer spec must be a dict, got {type(d).__name__}")
        if d.get("type") != SPEC_TYPE:
            raise ValueError(f"tokenizer spec type is {d.get('type')!r}, expected {SPEC_TYPE!r}")
        for key in ("model_file", "rules"):
            if key not in d:
                raise ValueError(f"sentencepiece spec lacks the key {key!r}; got keys {sorted(d)}")
        path = Path(d["model_file"])
        if not path.is_absolute():
            path = Path(folder if folder is not None else ".") / path
        return cls(path, lang=d.get("lang", "en"), rules=[get_rule(n) for n in d["rules"]],
                   special_tokens=d.get("special_tokens"))

    def __repr__(self) -> str:
        return f"SentencePieceTokenizer({str(self.model_path)!r}, vocab_size={self.vocab_size})"
