"""Tokenizer: exact parity with fastai 2.8.12 (recorded fixture) and with whole-document spaCy."""

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from ulmfit.text import Tokenizer, tokenizer_from_dict
from ulmfit.text import rules as R
from ulmfit.text.tokenizer import spacy_languages

FIXTURE = Path(__file__).with_name("fastai_parity.json")
CASES = json.loads(FIXTURE.read_text(encoding="utf-8"))["cases"]


@pytest.fixture(scope="module")
def tok():
    return Tokenizer()


_REFERENCE_NLP = {}


def _reference_nlp(lang="en"):
    """A pristine spaCy pipeline set up as fastai's SpacyTokenizer does (independent of ours)."""
    if lang not in _REFERENCE_NLP:
        import spacy
        from spacy.symbols import ORTH

        nlp = spacy.blank(lang)
        for s in R.SPECIAL_TOKENS:
            nlp.tokenizer.add_special_case(s, [{ORTH: s}])
        _REFERENCE_NLP[lang] = nlp
    return _REFERENCE_NLP[lang]


def _whole_doc(tok, text):
    """Reference: spaCy on the whole pre-processed document, then the post-rules (fastai's path)."""
    toks = [t.text for t in _reference_nlp(tok.lang)(tok.preprocess(text))]
    for rule in tok.post_rules:
        toks = [rule(t) for t in toks]
    return toks


def test_fixture_is_large_and_varied():
    assert len(CASES) >= 50
    assert any(c["text"] == "" for c in CASES)
    assert any("\n" in t for c in CASES for t in c["tokens"])  # whitespace tokens are covered


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_parity_with_fastai(tok, case):
    assert tok(case["text"]) == case["tokens"]


def test_batch_parity_with_fastai():
    # A fresh tokenizer (cold chunk memo), all texts at once, in order.
    texts = [c["text"] for c in CASES]
    assert Tokenizer().tokenize(texts, n_workers=1) == [c["tokens"] for c in CASES]


def test_facts_examples(tok):
    assert tok("I'm OK") == ["xxbos", "xxmaj", "i", "'m", "xxup", "ok"]
    assert tok("Hello \n\n world") == ["xxbos", "xxmaj", "hello", "\n\n\u2581", "world"]
    assert tok("") == ["xxbos"]
    assert tok("The The The The") == ["xxbos", "xxwrep", "4", "xxmaj", "the"]


def _fuzz_texts(tok, n, seed):
    rng = random.Random(seed)
    special_keys = sorted(tok.nlp.tokenizer.rules)
    bits = special_keys + ["(", ")", '"', "'", ".", ",", ":", ";", "!", "?", "-", "xxbos", "xxmaj", "a", "o",
                           "Hello", "U.S.", "e.g.", "n't", "'s", ":)", "<3", "...", "$", "1", "2.5", "&amp;",
                           "<br />", "WOW", "sooo", "go go go"]
    spaces = [" ", " ", " ", " ", "", "", "  ", "\n", " \n ", "\t", "\xa0"]
    return ["".join(rng.choice(bits) + rng.choice(spaces) for _ in range(rng.randint(0, 14))) for _ in range(n)]


def test_matches_whole_document_spacy_on_fuzzed_text():
    # Emoticons, abbreviations and contractions glued together in random ways stress the chunk memo and
    # the guard against special-case matches that straddle chunks.
    tok = Tokenizer()
    texts = _fuzz_texts(tok, 1500, seed=0)
    got = tok.tokenize(texts, n_workers=1)
    for text, toks in zip(texts, got):
        assert toks == _whole_doc(tok, text), repr(text)


def test_regression_straddling_special_case():
    # Found by fuzzing: a match across ") :)" shadows the ":)" special case inside the chunk in spaCy.
    tok = Tokenizer()
    text = "Mayn't\t:]\nwe'd:-)) :)Where's\nWhere’ve Kans.\twhens\nV.V "
    assert tok(text) == _whole_doc(tok, text)
    assert Tokenizer().tokenize([text, "x " + text], n_workers=1) == [_whole_doc(tok, text),
                                                                        _whole_doc(tok, "x " + text)]


def test_multiprocess_equals_single_process():
    tok = Tokenizer()
    texts = [c["text"] for c in CASES] * 3 + _fuzz_texts(tok, 60, seed=1)
    single = tok.tokenize(texts, n_workers=1)
    assert Tokenizer().tokenize(texts, n_workers=2, chunk_size=7) == single
    assert list(Tokenizer().tokenize_iter(iter(texts), n_workers=2, chunk_size=5)) == single


def test_tokenize_iter_streams_a_generator(tok):
    texts = (f"Line {i}: HELLO world" for i in range(25))
    out = tok.tokenize_iter(texts, n_workers=1, chunk_size=4)
    first = next(out)
    assert first == ["xxbos", "xxmaj", "line", "0", ":", "xxup", "hello", "world"]
    assert len(list(out)) == 24


def test_options_strict_html_and_eos():
    tok = Tokenizer(fix_html_quirks=False, add_eos=True)
    assert tok("Tom &amp; Jerry") == ["xxbos", "xxmaj", "tom", "&", "xxmaj", "jerry", "xxeos"]
    assert Tokenizer()("Tom &amp; Jerry") == ["xxbos", "xxmaj", "tom", "&", "&", "xxmaj", "jerry"]


def test_custom_rules_and_post_rules():
    tok = Tokenizer(rules=[str.upper], post_rules=[])
    assert tok("ab cd") == ["AB", "CD"]
    with pytest.raises(ValueError, match="cannot be saved"):
        Tokenizer(rules=[lambda t: t]).to_dict()
    with pytest.raises(TypeError, match=r"rules\[0\]"):
        Tokenizer(rules=["fix_html"])
    for kind, single in (("rules", "fix_html"), ("post_rules", str.lower), ("special_tokens", "xxfoo")):
        with pytest.raises(TypeError, match=rf"^{kind} must be a list, got a single .*; wrap it in a list$"):
            Tokenizer(**{kind: single})  # not one rule or token per character


def test_to_dict_round_trip(tmp_path):
    tok = Tokenizer(fix_html_quirks=False)
    d = tok.to_dict()
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(d))
    back = Tokenizer.from_dict(json.loads(path.read_text()))
    assert back.rules == tok.rules and back.post_rules == tok.post_rules and back.lang == "en"
    assert d["rules"][0] == "fix_html_strict" and d["type"] == "spacy" and "spacy_version" in d
    assert isinstance(tokenizer_from_dict(d, tmp_path), Tokenizer)
    with pytest.raises(ValueError, match="unknown rule name"):
        Tokenizer.from_dict({**d, "rules": ["no_such_rule"]})
    with pytest.raises(ValueError, match="lacks the key 'lang'"):
        Tokenizer.from_dict({"rules": [], "post_rules": []})


def test_other_language():
    tok = Tokenizer(lang="de")
    assert tok("Das ist GUT.") == ["xxbos", "xxmaj", "das", "ist", "xxup", "gut", "."]


def test_unknown_language_error():
    with pytest.raises(ValueError, match=r"lang='zz' is not a spaCy language code; accepted: af, .*\bde, .*\ben, "
                                         r".*\bxx\b.*multi-language") as info:
        Tokenizer(lang="zz")
    assert "\n" not in str(info.value)


def test_spacy_languages_lists_the_built_in_codes():
    codes = spacy_languages()
    assert {"en", "de", "fr", "xx"} <= set(codes) and codes == sorted(codes)
    assert "__pycache__" not in codes and "zz" not in codes


def test_bad_inputs_name_the_index(tok):
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str, got NoneType"):
        tok.tokenize(["ok", None], n_workers=1)
    with pytest.raises(TypeError, match=r"texts\[2\] must be a str, got int"):
        list(tok.tokenize_iter(iter(["a", "b", 3]), n_workers=1, chunk_size=2))
    with pytest.raises(TypeError, match="single str"):
        tok.tokenize("just one text")
    with pytest.raises(TypeError, match="text must be a str"):
        tok(b"bytes")
    with pytest.raises(ValueError, match="n_workers"):
        tok.tokenize(["a"], n_workers=-1)


def test_special_tokens_are_never_split(tok):
    text = " ".join(R.SPECIAL_TOKENS) + " (xxmaj) xxbos."
    toks = tok(text)
    for s in R.SPECIAL_TOKENS:
        assert s in toks
    assert toks == _whole_doc(tok, text)


def test_tokens_never_contain_spaces(tok):
    for c in CASES:
        assert all(" " not in t for t in tok(c["text"]))


def test_memo_limit_keeps_results_exact(monkeypatch):
    import ulmfit.text.tokenizer as mod

    monkeypatch.setattr(mod, "_MEMO_MAX", 5)
    tok = Tokenizer()
    texts = [c["text"] for c in CASES]
    assert tok.tokenize(texts, n_workers=1) == [c["tokens"] for c in CASES]
    assert len(tok._memo) < 200


def test_language_with_its_own_segmenter_keeps_special_tokens():
    # spaCy's Chinese tokenizer (default character segmenter) has no special cases: we cut them out first.
    tok = Tokenizer(lang="zh")
    toks = tok("Hello 东京 WORLD")
    assert toks[:2] == ["xxbos", "xxmaj"] and "xxup" in toks and "东" in toks and "京" in toks
    assert tok.tokenize(["Hello 东京", "x"], n_workers=1)[0] == tok("Hello 东京")


@pytest.mark.parametrize("n_workers", [1, 2])
def test_tokenize_iter_reads_ahead_a_bounded_amount(n_workers):
    consumed = []

    def texts():
        for i in range(400):
            consumed.append(i)
            yield f"Doc {i} text"

    chunk = 5
    ref = Tokenizer()
    out = Tokenizer().tokenize_iter(texts(), n_workers=n_workers, chunk_size=chunk)
    for k in range(1, 150):
        assert next(out) == ref(f"Doc {k - 1} text")  # in order
        assert len(consumed) - k <= (2 * n_workers + 2) * chunk
    out.close()


# Regression: a lone surrogate made spaCy (and replace_rep) raise UnicodeEncodeError for the whole batch.
@pytest.mark.parametrize("n_workers", [1, 2])
def test_lone_surrogates_become_replacement_characters(tok, n_workers):
    bad = ["\ud800", "ok \udcff SOOOO ok", "pair \ud83d\ude00 split"]
    assert [tok(t) for t in bad] == [tok(t.replace("\ud800", "\ufffd").replace("\udcff", "\ufffd")
                                          .replace("\ud83d", "\ufffd").replace("\ude00", "\ufffd")) for t in bad]
    assert tok("\ud800") == ["xxbos", "\ufffd"]
    texts = ["Good text."] * 40 + bad + ["More good text."] * 40
    fresh = Tokenizer()
    fresh._prewarm_docs = 0  # with 2 workers, the bad texts reach a worker process
    assert fresh.tokenize(texts, n_workers=n_workers, chunk_size=3) == [tok(t) for t in texts]


def test_replace_unencodable_leaves_normal_text_alone():
    from ulmfit.text.tokenizer import replace_unencodable

    for text in ["plain ascii", "caf\u00e9 \U0001f600 \u4e2d", ""]:
        assert replace_unencodable(text) is text
    assert replace_unencodable("a\ud800b\udfff") == "a\ufffdb\ufffd"


def test_a_saved_tokenizer_loads_without_spacy_and_tokenizing_says_what_is_missing(blocked_env):
    # the GPU machine has no spaCy: saved models must still load there (they train on carried token ids)
    code = ("from ulmfit.text import Tokenizer\n"
            "tok = Tokenizer.from_dict(Tokenizer().to_dict())\n"
            "try:\n    tok.tokenize(['a b'])\nexcept ImportError as e:\n    print('refused:', e)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=blocked_env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "refused: ulmfit.text.Tokenizer needs spaCy: pip install spacy" in proc.stdout
