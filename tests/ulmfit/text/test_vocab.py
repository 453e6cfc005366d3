"""Vocab: fastai v2 make_vocab ordering and padding (ULMFIT_FACTS.md section b), lookup, JSON save/load."""

from collections import Counter

import numpy as np
import pytest

from ulmfit.text import SPECIAL_TOKENS, Vocab
from ulmfit.text.vocab import FAKE_TOKEN, ids_dtype


def test_specials_first_min_freq_is_inclusive_and_frequency_order():
    docs = [["b", "a", "a", "c"], ["a", "b", "b", "c", "c", "d", "d"], ["c", "e"]]
    # counts: a 3, b 3, c 4, d 2, e 1
    v = Vocab.build(docs, min_freq=3)
    assert v.itos[:9] == list(SPECIAL_TOKENS)
    assert v.itos[9:12] == ["c", "b", "a"]  # by count, ties in first-seen order (b before a)
    assert "d" not in v and "e" not in v
    assert len(v) == 16 and v.itos[12:] == [FAKE_TOKEN] * 4


def test_fake_padding_always_adds_one_to_eight():
    # 9 specials + 7 words = 16 -> a multiple of 8 still gets 8 fakes: 24 (fastai quirk 4).
    docs = [[w] * 3 for w in "abcdefg"]
    v = Vocab.build(docs)
    assert len(v) == 24 and v.itos.count(FAKE_TOKEN) == 8
    # 9 specials + 6 words = 15 -> 1 fake -> 16
    assert len(Vocab.build([[w] * 3 for w in "abcdef"])) == 16


def test_max_vocab_counts_the_specials_and_truncates_before_padding():
    docs = [[w] * (10 + i) for i, w in enumerate("abcdefghij")]
    v = Vocab.build(docs, max_vocab=12)
    assert v.itos[:12] == list(SPECIAL_TOKENS) + ["j", "i", "h"]
    assert len(v) == 16


def test_specials_in_the_corpus_are_not_duplicated():
    v = Vocab.build([["xxbos", "xxmaj", "hi"] * 5], min_freq=1)
    assert v.itos.count("xxbos") == 1 and v.itos[9] == "hi"


def test_numericalize_unknown_and_fake_map_to_zero():
    v = Vocab.build([["hello"] * 3])
    assert v.numericalize(["xxbos", "hello", "never-seen", FAKE_TOKEN]) == [2, 9, 0, 0]
    assert FAKE_TOKEN not in v and "hello" in v
    assert v.pad_idx == 1 and v.bos_idx == 2 and v["nope"] == 0
    assert v.textify([2, 9, 0]) == ["xxbos", "hello", "xxunk"]
    assert v.textify(np.array([9, 1])) == ["hello", "xxpad"]
    with pytest.raises(IndexError, match="out of range"):
        v.textify([len(v)])


def test_numericalize_many_returns_compact_arrays():
    v = Vocab.build([["a", "b"] * 3])
    arrs = v.numericalize_many([["a", "b", "zz"], []])
    assert arrs[0].dtype == np.uint16 and arrs[0].tolist() == [9, 10, 0] and arrs[1].size == 0
    assert ids_dtype(65536) == np.uint16 and ids_dtype(65537) == np.uint32


def test_counter_input_and_bad_input():
    v = Vocab.build(Counter({"x": 5, "y": 2}), min_freq=2)
    assert v.itos[9:11] == ["x", "y"]
    with pytest.raises(TypeError, match=r"token_lists\[1\]"):
        Vocab.build([["a"], "not a list"])
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build([["a"]], min_freq=-1)
    with pytest.raises(ValueError, match="max_vocab"):
        Vocab.build([["a"]], max_vocab=0)
    with pytest.raises(TypeError, match="single str"):
        v.numericalize("abc")


def test_save_load_round_trip(tmp_path):
    v = Vocab.build([["é", "日本", "\n\u2581", "a"] * 3])
    path = tmp_path / "vocab.json"
    v.save(path)
    back = Vocab.load(path)
    assert back == v and back.stoi == v.stoi
    assert Vocab.from_itos(v.itos) == v


@pytest.mark.parametrize("content", ["{not json", '{"itos": [1, 2]}', '{"other": []}', "[]", '"str"'])
def test_load_malformed_files(tmp_path, content):
    path = tmp_path / "vocab.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="vocab.json"):
        Vocab.load(path)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.json"):
        Vocab.load(tmp_path / "nothere.json")


def test_parity_with_fastai_make_vocab():
    # Vocabs recorded from fastai's make_vocab over the tokens of the tokenizer parity fixture.
    import json
    from pathlib import Path

    record = json.loads(Path(__file__).with_name("fastai_parity.json").read_text(encoding="utf-8"))
    docs = [c["tokens"] for c in record["cases"]]
    assert len(record["vocabs"]) >= 4
    for ref in record["vocabs"]:
        v = Vocab.build(docs, min_freq=ref["min_freq"], max_vocab=ref["max_vocab"])
        assert v.itos == ref["itos"], (ref["min_freq"], ref["max_vocab"])
