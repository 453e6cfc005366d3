"""Metrics: callables ``(pred, y) -> scalar tensor``, averaged over validation batches.

The learner weights each batch by its number of targets (``y.numel()`` for integer targets, so LM
batches count tokens; ``y.shape[0]`` for float targets such as soft labels).
A metric with ``from_valid_loss = True`` is instead computed from the averaged validation loss
(``perplexity = exp(valid_loss)``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["accuracy", "cross_entropy_flat", "error_rate", "metric_name", "perplexity"]


def cross_entropy_flat(pred: torch.Tensor, y: torch.Tensor, **kwargs) -> torch.Tensor:
    """Cross entropy that also takes LM logits: ``pred (B, T, V), y (B, T)`` are flattened to
    ``(B*T, V), (B*T,)``; ``pred (B, C), y (B,)`` or soft targets ``y (B, C)`` go straight through."""
    if pred.ndim > 2 and y.ndim == pred.ndim - 1:
        pred = pred.reshape(-1, pred.shape[-1])
        y = y.reshape(-1)
    return F.cross_entropy(pred.float(), y, **kwargs)


def accuracy(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of argmax predictions equal to the target.

    ``pred (B, C), y (B,)`` or ``pred (B, T, V), y (B, T)`` (flattened); a float ``y (B, C)`` (soft
    labels) uses its argmax."""
    if y.is_floating_point() and y.ndim == pred.ndim:
        y = y.argmax(-1)
    return (pred.argmax(-1) == y).float().mean()


def error_rate(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``1 - accuracy``."""
    return 1 - accuracy(pred, y)


def perplexity(valid_loss: float) -> float:
    """``exp(valid_loss)``; pass the function itself in ``metrics=`` to report it for LMs."""
    return math.exp(valid_loss) if valid_loss < 700 else math.inf


perplexity.from_valid_loss = True  # type: ignore[attr-defined]


def metric_name(metric) -> str:
    """The name a metric is reported under: its ``name`` attribute, else ``__name__``, else the
    wrapped function's name (``functools.partial``), else its class name."""
    for obj in (metric, getattr(metric, "func", None)):
        if obj is None:
            continue
        name = getattr(obj, "name", None) or getattr(obj, "__name__", None)
        if isinstance(name, str):
            return name
    return type(metric).__name__
