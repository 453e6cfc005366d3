"""Label-smoothing cross entropy (Szegedy et al. 2016), a thin module over ``F.cross_entropy``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LabelSmoothingCrossEntropy"]

_REDUCTIONS = ("mean", "sum", "none")


class LabelSmoothingCrossEntropy(nn.Module):
    """Cross entropy against the smoothed target ``(1 - eps) * onehot(y) + eps / C``.

    Equals fastai's ``(eps / C) * (-sum_k logp_k) + (1 - eps) * NLL(logp, y)`` when ``weight`` is None.
    (With ``weight``, torch also weights the smoothing term; fastai does not.)
    ``reduction='none'`` gives per-sample losses, which :class:`vision.MixUp` uses.

    pred: (B, C) float logits, target: (B,) int64 -> scalar, or (B,) with reduction='none'.
    """

    def __init__(self, eps: float = 0.1, weight: torch.Tensor | None = None, reduction: str = "mean") -> None:
        super().__init__()
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"eps (label smoothing) must be in [0, 1], got {eps!r}")
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.eps = float(eps)
        self.reduction = reduction
        self.register_buffer("weight", weight, persistent=False)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(
            pred, target, weight=self.weight, reduction=self.reduction, label_smoothing=self.eps
        )

    def extra_repr(self) -> str:
        return f"eps={self.eps}, reduction={self.reduction!r}"
