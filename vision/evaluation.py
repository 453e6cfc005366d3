"""How well an image classifier does on a labelled dataset: class probabilities over it, and accuracy,
per-class precision/recall/F1, macro F1 and the confusion matrix (``ulmfit.evaluation``'s
:func:`~ulmfit.evaluation.classification_metrics`, the numbers the text classifier reports too).

``vision.learner.train`` runs :func:`evaluate_model` on the validation set for the report;
``vision.learner.evaluate`` (``ulmfit-vision evaluate``) runs it for a saved model folder on one split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ulmfit.errors import UsageError
from ulmfit.evaluation import classification_metrics

__all__ = ["check_classes", "evaluate_model", "predict_dataset"]


@torch.no_grad()
def predict_dataset(model: nn.Module, dataset: Dataset, *, device: str | torch.device | None = None, bs: int = 64,
                    workers: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities ``(N, C)`` float32 and labels ``(N,)`` int64 for every item of ``dataset``, in
    order (no sharding: under DDP call it on one rank). ``model`` is put in eval mode and run on ``device``
    (default: where its parameters are)."""
    if len(dataset) == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    param = next(model.parameters(), None)
    device = torch.device(device) if device is not None else (param.device if param is not None else "cpu")
    model.eval()
    loader = DataLoader(dataset, batch_size=bs, shuffle=False, num_workers=workers,
                        pin_memory=torch.device(device).type == "cuda")
    probs, labels = [], []
    for x, y in loader:  # x: (B, 3, S, S) float32, y: (B,) int64
        logits = model(x.to(device, non_blocking=True))
        probs.append(torch.softmax(logits.float(), dim=-1).cpu())
        labels.append(torch.as_tensor(y, dtype=torch.int64))
    return torch.cat(probs).numpy(), torch.cat(labels).numpy()


def evaluate_model(model: nn.Module, dataset: Dataset, classes: Sequence[str], *,
                   data_classes: Sequence[str] | None = None, **kwargs) -> dict[str, Any]:
    """:func:`classification_metrics` of ``model`` on ``dataset``: ``accuracy``, ``macro_f1``, ``per_class``
    {name: precision, recall, f1, support}, ``confusion_matrix`` (rows: true, columns: predicted),
    ``classes``, ``n``.

    classes: the model's output order. data_classes: what the dataset's labels index, when not ``classes``
    (the same names in another order; see :func:`check_classes`). kwargs: of :func:`predict_dataset`.
    """
    classes = list(classes)
    probs, y = predict_dataset(model, dataset, **kwargs)
    if probs.shape[1] != len(classes):
        raise ValueError(f"the model outputs {probs.shape[1]} classes but {len(classes)} class names were given")
    if data_classes is not None and list(data_classes) != classes:  # the data's label ids -> the model's
        y = np.asarray([classes.index(c) for c in data_classes], dtype=np.int64)[y]
    return classification_metrics(probs, y, classes, multi_label=False, thresholds=np.array([]))


def _preview(names: Sequence[str], k: int = 8) -> str:
    shown = ", ".join(map(str, names[:k]))
    return f"[{shown}{', ...' if len(names) > k else ''}]"


def check_classes(model_classes: Sequence[str], data_classes: Sequence[str], model_name: str, data_name: str) -> None:
    """Raise a one-line :class:`UsageError` naming both sides when a model and a data source know different
    classes (the same classes in another order are fine)."""
    model_classes, data_classes = list(model_classes), list(data_classes)
    if set(model_classes) == set(data_classes):
        return
    only_data = [c for c in data_classes if c not in set(model_classes)]
    only_model = [c for c in model_classes if c not in set(data_classes)]
    raise UsageError(
        f"model {model_name} was trained on {len(model_classes)} classes {_preview(model_classes)} but "
        f"{data_name} has {len(data_classes)} classes {_preview(data_classes)} (not in the model: "
        f"{_preview(only_data)}; not in the data: {_preview(only_model)}); evaluate it on data with its classes")
