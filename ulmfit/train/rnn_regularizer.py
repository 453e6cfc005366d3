"""AR / TAR (activation and temporal activation regularization, Merity et al. 2017) as a training-core
callback, for any recurrent model that returns ``(pred, raw, dropped)``."""

from __future__ import annotations

import torch

from ulmfit.train.callbacks import Callback

__all__ = ["RNNRegularizer", "activation_regularization", "temporal_activation_regularization"]


def activation_regularization(dropped: torch.Tensor) -> torch.Tensor:
    """AR term: mean(dropped**2). dropped: (B, T, E) -> scalar (fp32)."""
    return dropped.float().pow(2).mean()


def temporal_activation_regularization(raw: torch.Tensor) -> torch.Tensor:
    """TAR term: mean((raw[:, 1:] - raw[:, :-1])**2). raw: (B, T, E) -> scalar (fp32); 0 when T < 2."""
    if raw.size(1) < 2:
        return raw.new_zeros((), dtype=torch.float32)
    return (raw[:, 1:] - raw[:, :-1]).float().pow(2).mean()


class RNNRegularizer(Callback):
    """Adds ``alpha * AR(dropped) + beta * TAR(raw)`` to the training loss (fastai's ``RNNRegularizer``).

    Expects the model output ``learn.out = (pred, raw, dropped, ...)`` as returned by the LM
    (``raw``/``dropped`` = last-layer output before/after output dropout) and the classifier (both items
    are the encoder output). Validation losses are left alone. fastai's ``TextLearner`` defaults:
    alpha=2, beta=1. Unlike fastai (which tests the batch size), TAR is skipped when T < 2.
    """

    def __init__(self, alpha: float = 2.0, beta: float = 1.0):
        for name, value in (("alpha", alpha), ("beta", beta)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"RNNRegularizer {name} must be a non-negative number, got {value!r}")
        self.alpha, self.beta = float(alpha), float(beta)

    def after_loss(self, learn) -> None:
        if not learn.training:
            return
        out = learn.out
        if not isinstance(out, (tuple, list)) or len(out) < 3:
            raise TypeError(
                "RNNRegularizer needs the model to return (pred, raw, dropped); got "
                f"{type(out).__name__}{'' if not isinstance(out, (tuple, list)) else f' of length {len(out)}'}"
            )
        raw, dropped = out[1], out[2]
        loss = learn.loss
        if self.alpha:
            loss = loss + self.alpha * activation_regularization(dropped)
        if self.beta:
            loss = loss + self.beta * temporal_activation_regularization(raw)
        learn.loss = loss
