"""Shape checks for the shipped demo data set (ulmfit/demo_data)."""

import json
from collections import Counter
from pathlib import Path

import pytest

from ulmfit import demo_data

FOLDER = Path(__file__).resolve().parents[2] / "ulmfit" / "demo_data"


def _rows() -> list[dict]:
    lines = (FOLDER / "reviews.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_counts_labels_and_splits():
    rows = _rows()
    assert len(rows) == 400
    assert all(set(r) == {"text", "label", "split"} for r in rows)
    assert Counter(r["label"] for r in rows) == {"positive": 200, "negative": 200}
    assert Counter((r["split"], r["label"]) for r in rows) == {
        ("train", "positive"): 160, ("train", "negative"): 160,
        ("valid", "positive"): 40, ("valid", "negative"): 40,
    }


def test_texts_are_nonempty_unique_and_short():
    texts = [r["text"] for r in _rows()]
    assert all(isinstance(t, str) and t.strip() == t and t for t in texts)
    normalised = [" ".join(t.lower().split()) for t in texts]
    assert len(set(normalised)) == len(texts)
    # one to three sentences: short reviews, no paragraphs
    assert all("\n" not in t and 4 <= len(t.split()) <= 60 for t in texts)


def test_examples_are_six_and_not_in_the_data_set():
    examples = (FOLDER / "examples.txt").read_text(encoding="utf-8").splitlines()
    examples = [e for e in examples if e.strip()]
    assert len(examples) == 6
    texts = {r["text"] for r in _rows()}
    assert not texts.intersection(examples)
    assert demo_data.load_examples() == examples


def test_loader_matches_file():
    rows = _rows()
    texts, labels = demo_data.load_reviews("valid")
    assert (texts, labels) == ([r["text"] for r in rows if r["split"] == "valid"],
                               [r["label"] for r in rows if r["split"] == "valid"])
    assert len(demo_data.load_reviews()[0]) == 400
    assert set(demo_data.LABELS) == {r["label"] for r in rows}
    with pytest.raises(ValueError, match="split='test'"):
        demo_data.load_reviews("test")
