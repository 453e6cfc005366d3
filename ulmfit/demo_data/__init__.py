"""The small, hand-written review sentiment data set shipped for ``ulmfit demo`` (see README.md here)."""

import json
from pathlib import Path

__all__ = ["DATA_DIR", "REVIEWS", "EXAMPLES", "LABELS", "SPLITS", "load_reviews", "load_examples"]

DATA_DIR = Path(__file__).resolve().parent
REVIEWS = DATA_DIR / "reviews.jsonl"
EXAMPLES = DATA_DIR / "examples.txt"
LABELS = ("negative", "positive")
SPLITS = ("train", "valid")


def load_reviews(split: str | None = None) -> tuple[list[str], list[str]]:
    """Texts and labels of ``reviews.jsonl``, in file order; ``split`` is "train", "valid" or None (all)."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split={split!r} is not known; expected one of {SPLITS} or None")
    texts: list[str] = []
    labels: list[str] = []
    with open(REVIEWS, encoding="utf-8") as f:
        for row in map(json.loads, filter(str.strip, f)):
            if split is None or row["split"] == split:
                texts.append(row["text"])
                labels.append(row["label"])
    return texts, labels


def load_examples() -> list[str]:
    """The 6 example sentences the demo predicts on (not part of ``reviews.jsonl``)."""
    return [line.strip() for line in EXAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]
