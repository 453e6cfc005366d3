"""Classification metrics (accuracy, per-class precision/recall/F1, macro F1, confusion matrix; the
multi-label variants) and their readable table."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["classification_metrics", "decide_labels", "f1_score", "format_metrics"]


def decide_labels(probs: np.ndarray, classes: list[str], multi_label: bool, thresholds) -> list:
    """``(N, C)`` probabilities -> one label per row (argmax), or for multi-label the list of classes whose
    probability reaches its threshold."""
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(f"probs must have shape (N, {len(classes)}): one row per text, one column per class "
                         f"{list(classes)}; got shape {probs.shape}")
    if multi_label:
        thr = np.asarray(thresholds)
        return [[c for c, hit in zip(classes, row >= thr) if hit] for row in probs]
    return [classes[i] for i in probs.argmax(axis=1)]


def f1_score(pred: np.ndarray, true: np.ndarray) -> float:
    tp = float(np.sum(pred & true))
    denom = float(np.sum(pred) + np.sum(true))
    return 2 * tp / denom if denom else 0.0


def classification_metrics(probs: np.ndarray, y: np.ndarray, classes: list[str], multi_label: bool,
             thresholds: np.ndarray) -> dict[str, Any]:
    per_class = {}
    if multi_label:
        pred = probs >= thresholds
        true = y > 0.5
        for c, name in enumerate(classes):
            per_class[name] = _prf(pred[:, c], true[:, c])
        return {"subset_accuracy": float(np.mean(np.all(pred == true, axis=1))),
                "hamming_accuracy": float(np.mean(pred == true)),
                "macro_f1": float(np.mean([v["f1"] for v in per_class.values()])), "per_class": per_class,
                "n": int(len(y))}
    pred = probs.argmax(axis=1)
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(confusion, (y, pred), 1)
    for c, name in enumerate(classes):
        per_class[name] = _prf(pred == c, y == c)
    return {"accuracy": float(np.mean(pred == y)), "macro_f1": float(np.mean([v["f1"] for v in per_class.values()])),
            "per_class": per_class, "confusion_matrix": confusion.tolist(), "classes": list(classes),
            "n": int(len(y))}


def _prf(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    tp = float(np.sum(pred & true))
    precision = tp / float(np.sum(pred)) if np.sum(pred) else 0.0
    recall = tp / float(np.sum(true)) if np.sum(true) else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": int(np.sum(true))}


def format_metrics(metrics: dict) -> str:
    """A readable table of ``TextClassifier.evaluate``'s result."""
    lines = []
    for key in ("accuracy", "subset_accuracy", "hamming_accuracy", "macro_f1"):
        if key in metrics:
            lines.append(f"{key:>16s}: {metrics[key]:.4f}")
    lines.append(f"{'class':>16s}  precision  recall     f1  support")
    for name, m in metrics["per_class"].items():
        lines.append(f"{str(name):>16s}  {m['precision']:9.3f}  {m['recall']:6.3f}  {m['f1']:5.3f}  {m['support']:7d}")
    if "confusion_matrix" in metrics:
        lines.append("confusion matrix (rows: true, columns: predicted):")
        width = max(len(str(c)) for c in metrics["classes"])
        for name, row in zip(metrics["classes"], metrics["confusion_matrix"]):
            lines.append(f"  {str(name):>{width}s} " + " ".join(f"{v:5d}" for v in row))
    return "\n".join(lines)
