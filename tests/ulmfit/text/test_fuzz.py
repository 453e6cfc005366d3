"""Property-based tests: any Python ``str`` through both tokenizers and the classifier's ``predict_proba``.

Properties: no exception, deterministic (two calls agree, the second one on a warm memo), one text at a time
equals the same texts in a batch (also through worker processes), and the spaCy tokenizer's documents start
with ``xxbos``. The texts include lone surrogates (``"\\ud800"``, which UTF-8 cannot encode), control
characters, unusual whitespace, empty strings, long strings and fragments that trigger the pre-rules and
spaCy's special cases.
"""

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ulmfit.text import SentencePieceTokenizer, Tokenizer
from ulmfit.text.tokenizer import replace_unencodable

# Every code point, the surrogates (category Cs) included: st.characters() leaves those out by default.
ANY_CHAR = st.characters(exclude_categories=())
CONTROL = st.sampled_from(
    [chr(i) for i in range(0x20)] + [chr(i) for i in range(0x7F, 0xA0)]
    + list("\u00a0\u1680\u2000\u200b\u200d\u2028\u2029\u202f\u3000\ufeff\ufffe\uffff")
)
# Inputs that exercise fastai's rules (html, repetitions, case), spaCy's special cases and the chunk memo.
FRAGMENTS = st.sampled_from([
    "xxbos", "xxmaj", "xxunk", "&amp;", "&quot;", "&#39;", "<br />", "\\n", '\\"', " @-@ ", " @.@ ", "...",
    ":)", ":-(", "<3", "U.S.", "e.g.", "can't", "AAA", "Hello", "WORLD", "sooooo", "!!!", "go go go", "  ",
    " ", "\n", "\t", "#", "/", "\\", "\ud800", "\udfff", "\ud83d\ude00", "\U0001f600", "\ufb01", "\u0130",
    "\u00df", "\u0301", "\u05d0\u05d1", "\u4e2d\u6587", "1,000.5", "http://x.org/a?b=c", "a@b.com",
])
PIECE = st.one_of(st.text(ANY_CHAR, max_size=12), st.text(CONTROL, min_size=1, max_size=3), FRAGMENTS)
TEXT = st.one_of(
    st.just(""),
    st.text(ANY_CHAR, max_size=5000),
    st.lists(PIECE, max_size=40).map("".join),
    st.lists(PIECE, min_size=200, max_size=600).map("".join),  # long texts built from the fragments
)
TEXTS = st.lists(TEXT, max_size=8)

SPACY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.data_too_large])
FEW = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.data_too_large])
LONG_LEN = 1_000_000


def _long_text() -> str:
    """A 1,000,000-character text: repeated words with bad characters sprinkled in, then random code points."""
    base = "Hello WORLD, caf\u00e9 \ud800 na\u00efve \x00 :) sooooo &amp; <br /> \udfff\t\n "
    rng = random.Random(0)
    tail = "".join(chr(rng.randrange(0x110000)) if rng.random() < 0.85 else " " for _ in range(50_000))
    return (base * (LONG_LEN // len(base)))[: LONG_LEN - len(tail)] + tail


# ---------------------------------------------------------------------------------------------- spaCy
@pytest.fixture(scope="module")
def tok():
    return Tokenizer()


@pytest.fixture(scope="module")
def batch_tok():
    """A second tokenizer whose chunk memo sees the texts in another order than ``tok``'s."""
    return Tokenizer()


@SPACY
@given(text=TEXT)
def test_spacy_any_text_is_tokenized_deterministically(tok, text):
    first = tok(text)
    assert first[0] == "xxbos"
    assert all(isinstance(t, str) and t for t in first)
    assert tok(text) == first  # the second call reads the warm chunk memo


@SPACY
@given(texts=TEXTS)
def test_spacy_batch_equals_one_at_a_time(tok, batch_tok, texts):
    assert batch_tok.tokenize(texts, n_workers=1) == [tok(t) for t in texts]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(texts=st.lists(st.lists(PIECE, max_size=20).map("".join), min_size=8, max_size=24))
def test_spacy_worker_processes_equal_one_at_a_time(tok, texts):
    fork = Tokenizer()
    fork._prewarm_docs = 0  # every chunk but this process's share goes to a worker
    assert fork.tokenize(texts, n_workers=2, chunk_size=2) == [tok(t) for t in texts]


def test_spacy_lone_surrogates_in_worker_processes(tok):
    texts = ["fine text", "\ud800", "a \udcff b", "", "\ud83d\ude00 pair", "Hello \udfff WORLD"] * 30
    fork = Tokenizer()
    got = fork.tokenize(texts, n_workers=2, chunk_size=4)
    assert got == [tok(t) for t in texts]
    assert got[1] == ["xxbos", "\ufffd"] and got[2] == ["xxbos", "a", "\ufffd", "b"]


def test_spacy_one_million_characters(tok, batch_tok):
    text = _long_text()
    assert len(text) == LONG_LEN
    toks = tok(text)
    assert toks[0] == "xxbos" and "\ufffd" in toks
    assert batch_tok.tokenize(["short", text], n_workers=1)[1] == toks


# ---------------------------------------------------------------------------------------------- sentencepiece
from tests.ulmfit.text.test_sentencepiece import CORPUS as SP_CORPUS  # noqa: E402 - the same tiny corpus


@pytest.fixture(scope="module")
def sp(tmp_path_factory):
    return SentencePieceTokenizer.train(SP_CORPUS, vocab_size=60, out_dir=tmp_path_factory.mktemp("spm"), seed=0)


@FEW
@given(text=TEXT)
def test_sentencepiece_any_text_is_encoded_deterministically(sp, text):
    pieces = sp(text)
    assert pieces[0] == "\u2581xxbos"
    assert sp(text) == pieces
    ids = sp.encode(text)
    assert len(ids) == len(pieces) and all(0 <= i < sp.vocab_size for i in ids)
    assert isinstance(sp.decode(pieces), str)


@FEW
@given(texts=TEXTS)
def test_sentencepiece_batch_equals_one_at_a_time(sp, texts):
    assert sp.tokenize(texts, n_workers=2) == [sp(t) for t in texts]


def test_sentencepiece_one_million_characters(sp):
    text = _long_text()
    pieces = sp(text)
    assert pieces[0] == "\u2581xxbos"
    assert sp.tokenize(["short", text], n_workers=2)[1] == pieces


def test_sentencepiece_trains_on_lone_surrogates(tmp_path):
    bad = SentencePieceTokenizer.train(SP_CORPUS + ["bad \ud800 text"], vocab_size=60, out_dir=tmp_path, seed=0)
    assert bad("bad \ud800 text") == bad("bad \ufffd text")


# ---------------------------------------------------------------------------------------------- replace_unencodable
@SPACY
@given(text=st.text(ANY_CHAR, max_size=200))
def test_replace_unencodable_only_touches_surrogates(text):
    fixed = replace_unencodable(text)
    fixed.encode("utf-8")  # never raises
    assert len(fixed) == len(text)
    assert all(a == b or (0xD800 <= ord(a) <= 0xDFFF and b == "\ufffd") for a, b in zip(text, fixed))
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        assert fixed is text  # normal text: no copy


# ---------------------------------------------------------------------------------------------- classifier
@pytest.fixture(scope="module")
def clf(tok):
    """A tiny classifier with random weights (predict_proba's bookkeeping does not need a trained one)."""
    import torch

    from ulmfit.classifier import TextClassifier
    from ulmfit.models import AWDLSTMConfig, build_classifier
    from ulmfit.text import Vocab

    torch.manual_seed(0)
    vocab = Vocab.build(tok.tokenize(SP_CORPUS, n_workers=1), min_freq=1)
    arch = AWDLSTMConfig.classifier(emb_sz=8, n_hid=12, n_layers=2)
    model = build_classifier(len(vocab), 3, arch, bptt=8, max_len=64).eval()
    return TextClassifier(model, vocab, Tokenizer(), arch, ["a", "b", "c"], head={"bptt": 8, "max_len": 64})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(texts=st.lists(st.lists(PIECE, max_size=30).map("".join), min_size=1, max_size=6))
def test_predict_proba_any_texts(clf, texts):
    probs = clf.predict_proba(texts)
    assert probs.shape == (len(texts), 3) and np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    one_by_one = np.concatenate([clf.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(probs, one_by_one, atol=1e-4, rtol=0)
