"""Locked (variational) dropout: one mask per sequence, shared by every time step."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LockedDropout", "locked_dropout"]


def locked_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Drop whole features of each sequence, the same ones at every time step.

    x: (B, T, D) -> (B, T, D). The mask has shape (B, 1, D) and the kept entries are scaled by 1/(1-p),
    so the expectation is unchanged. Identity when not training or when p == 0.
    """
    if not training or p == 0.0:
        return x
    if x.dim() != 3:
        raise ValueError(f"locked_dropout expects x of shape (B, T, D), got shape {tuple(x.shape)}")
    mask = x.new_empty(x.size(0), 1, x.size(2)).bernoulli_(1.0 - p).div_(1.0 - p)
    return x * mask


class LockedDropout(nn.Module):
    """Module form of :func:`locked_dropout` (fastai's ``RNNDropout``). x: (B, T, D) -> (B, T, D)."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"LockedDropout p must be in [0, 1), got {p!r}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return locked_dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
