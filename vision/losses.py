"""Label-smoothing cross entropy (Szegedy et al. 2016): fastai's name over ``nn.CrossEntropyLoss``."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LabelSmoothingCrossEntropy"]

_REDUCTIONS = ("mean", "sum", "none")


class LabelSmoothingCrossEntropy(nn.CrossEntropyLoss):
    """``nn.CrossEntropyLoss(label_smoothing=eps)``: cross entropy against ``(1 - eps) * onehot(y) + eps / C``.

    Equals fastai's ``(eps / C) * (-sum_k logp_k) + (1 - eps) * NLL(logp, y)`` when ``weight`` is None.
    (With ``weight``, torch also weights the smoothing term; fastai does not.)
    ``reduction='none'`` gives per-sample losses, which :class:`vision.MixUp` uses.

    pred: (B, C) float logits, target: (B,) int64 -> scalar, or (B,) with reduction='none'.
    """

    def __init__(self, eps: float = 0.1, weight: torch.Tensor | None = None, reduction: str = "mean") -> None:
        # checked here, not at the first forward as torch does
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"eps (label smoothing) must be in [0, 1], got {eps!r}")
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        super().__init__(weight=weight, reduction=reduction, label_smoothing=float(eps))

    @property
    def eps(self) -> float:
        """fastai's name for ``label_smoothing``."""
        return self.label_smoothing

    def extra_repr(self) -> str:
        return f"eps={self.eps}, reduction={self.reduction!r}"
