"""SentencePieceTokenizer: train on a tiny corpus, encode/decode round trip, spec round trip, errors."""

import json
import unicodedata

import pytest

from ulmfit.text import SentencePieceTokenizer, tokenizer_from_dict

CORPUS = [
    "This is a small test corpus. It has SOME words!!!",
    "Another line, with more words &amp; stuff.",
    "The movie was GREAT, the acting superb; I loved it.",
    "Worst film ever... I want my money back!",
] * 10


@pytest.fixture(scope="module")
def sp(tmp_path_factory):
    out = tmp_path_factory.mktemp("spm")
    return SentencePieceTokenizer.train(CORPUS, vocab_size=60, model_type="unigram", out_dir=out, seed=0)


def test_special_tokens_are_single_pieces(sp):
    pieces = sp("Hello WORLD!!!")
    assert pieces[:2] == ["\u2581xxbos", "\u2581xxmaj"]
    assert "\u2581xxup" in pieces and "\u2581xxrep" in pieces
    assert (sp.model_path.parent / "spm.model").is_file()


@pytest.mark.parametrize("text", CORPUS[:4])
def test_round_trip(sp, text):
    # sentencepiece's default normaliser is NFKC (e.g. the "…" that fix_html makes becomes "...").
    expected = unicodedata.normalize("NFKC", sp.preprocess(text))
    assert sp.decode(sp(text)) == expected
    assert sp.decode(sp.encode(text)) == expected


def test_unseen_characters(sp):
    text = "unseen wördß ok"
    assert sp.decode(sp(text)) == sp.preprocess(text)  # pieces keep the characters
    assert "⁇" in sp.decode(sp.encode(text))  # ids map them to <unk>, shown as ⁇


def test_tokenize_many_matches_single(sp):
    assert sp.tokenize(CORPUS[:4], n_workers=1) == [sp(t) for t in CORPUS[:4]]


def test_bpe_model(tmp_path):
    bpe = SentencePieceTokenizer.train(CORPUS, vocab_size=60, model_type="bpe", out_dir=tmp_path)
    text = CORPUS[2]
    assert bpe.decode(bpe(text)) == bpe.preprocess(text)


def test_spec_round_trip_relative_to_folder(sp, tmp_path):
    folder = tmp_path / "model"
    d = sp.to_dict(folder)
    assert d["type"] == "sentencepiece" and d["model_file"] == "spm.model"
    assert (folder / "spm.model").is_file()
    d = json.loads(json.dumps(d))
    back = tokenizer_from_dict(d, folder)
    assert isinstance(back, SentencePieceTokenizer)
    assert back(CORPUS[0]) == sp(CORPUS[0])
    with pytest.raises(FileNotFoundError, match="spm.model"):
        SentencePieceTokenizer.from_dict(d, folder=tmp_path / "elsewhere")


def test_vocab_size_too_large_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"^vocab_size=5000 is too large for this corpus \(\d+ texts\): it fills at "
                                         r"most \d+\. Lower vocab_size"):
        SentencePieceTokenizer.train(CORPUS, vocab_size=5000, out_dir=tmp_path)


def test_vocab_size_too_small_and_bad_args(tmp_path):
    with pytest.raises(ValueError, match="vocab_size=12 is too small"):
        SentencePieceTokenizer.train(CORPUS, vocab_size=12, out_dir=tmp_path)
    with pytest.raises(ValueError, match="model_type"):
        SentencePieceTokenizer.train(CORPUS, vocab_size=60, model_type="wordpiece", out_dir=tmp_path)
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        SentencePieceTokenizer.train(["ok", None], vocab_size=60, out_dir=tmp_path)
    with pytest.raises(FileNotFoundError):
        SentencePieceTokenizer(tmp_path / "missing.model")
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a SentencePiece model"):
        SentencePieceTokenizer(bad)


# Regression: a lone surrogate made sentencepiece raise UnicodeEncodeError for the whole batch.
def test_lone_surrogates_become_replacement_characters(sp, tmp_path):
    assert sp("bad \ud800 TEXT") == sp("bad \ufffd TEXT")
    assert sp.encode("bad \udcff") == sp.encode("bad \ufffd")
    texts = ["fine", "bad \ud800 TEXT", ""]
    assert sp.tokenize(texts, n_workers=2) == [sp(t) for t in texts]
    trained = SentencePieceTokenizer.train(CORPUS + ["with \ud800 inside"], vocab_size=60, out_dir=tmp_path, seed=0)
    assert trained("with \ud800 inside") == trained("with \ufffd inside")
