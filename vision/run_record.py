"""The record of one ``ulmfit-vision train`` run in its model folder, made with the text models' pieces:
``metrics.csv`` (one row per epoch) and ``steps.csv`` (one per step), tagged with the recipe's stages
(``ulmfit.train.training_log``), and ``report.html`` (``ulmfit.report``: loss / accuracy / learning-rate
curves, the epoch table, the validation confusion matrix and per-class scores, the config and the data).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ulmfit.report import write_report
from ulmfit.train.training_log import write_log

__all__ = ["RECORD_FILES", "data_facts", "readable_evaluation", "run_summary", "write_run_record"]

RECORD_FILES = ("metrics.csv", "steps.csv", "report.html")


def _names(names: Sequence[str], k: int = 20) -> str:
    return ", ".join(names[:k]) + (f", ... ({len(names)} in all)" if len(names) > k else "")


def data_facts(data: Any) -> dict[str, Any]:
    """The report's data table for a :class:`vision.data.ImageData`: source, image counts, classes, size."""
    names = [data.class_names.get(c, c) for c in data.classes]
    return {"source": data.source, "train images": len(data.train.dataset),
            "validation images": len(data.valid.dataset), "classes": len(data.classes),
            "class names": _names(names), "image size": f"{data.size} x {data.size} px",
            "normalisation mean": ", ".join(f"{m:g}" for m in data.mean),
            "normalisation std": ", ".join(f"{s:g}" for s in data.std)}


def readable_evaluation(evaluation: Mapping[str, Any], class_names: Mapping[str, str]) -> dict[str, Any]:
    """``evaluation`` with class ids (WordNet ids such as n01440764) shown by their readable names where
    known, for the report; the numbers are unchanged."""
    if not class_names:
        return dict(evaluation)
    name = {c: class_names.get(c, c) for c in evaluation.get("classes", [])}
    if len(set(name.values())) != len(name):  # two ids with one name: keep the ids, they stay distinct
        return dict(evaluation)
    return {**evaluation, "classes": [name[c] for c in evaluation.get("classes", [])],
            "per_class": {name.get(c, c): v for c, v in evaluation.get("per_class", {}).items()}}


def run_summary(evaluation: Mapping[str, Any] | None, seconds: float) -> dict[str, Any]:
    """The report's headline figures: validation accuracy and macro F1, training time (m:ss)."""
    summary: dict[str, Any] = {}
    if evaluation:
        summary = {"validation accuracy": evaluation["accuracy"], "validation macro F1": evaluation["macro_f1"]}
    s = int(round(seconds))
    summary["training time"] = f"{s // 60}:{s % 60:02d}"
    return summary


def write_run_record(
    folder: str | os.PathLike,
    log: Mapping[str, list[dict]],
    *,
    title: str,
    config: dict,
    data: dict,
    evaluation: dict | None = None,
    summary: dict | None = None,
) -> list[str]:
    """Write ``metrics.csv``, ``steps.csv`` and ``report.html`` into ``folder``; returns the names written.

    log: ``TrainingLog.as_dict()`` (``epochs`` and ``steps``). The other arguments are
    :func:`ulmfit.report.render_report`'s (``evaluation``: :func:`vision.evaluation.evaluate_model`'s dict).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = write_log(folder, log["epochs"], log["steps"])
    write_report(folder / "report.html", title=title, kind="vision", epochs=log["epochs"], steps=log["steps"],
                 config=config, data=data, evaluation=evaluation, summary=summary)
    return [*names, "report.html"]
