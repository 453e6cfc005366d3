"""MixUp (Zhang et al. 2018, https://arxiv.org/abs/1710.09412) as training-core callbacks.

For each training batch: one lambda per sample from Beta(alpha, alpha), lambda = max(lambda, 1 - lambda)
(so the original sample dominates), a random pairing by ``randperm``, inputs
``x = lambda * x + (1 - lambda) * x[perm]``, and the loss
``reduce(lambda * L(pred, y) + (1 - lambda) * L(pred, y[perm]))`` on per-sample losses. Targets stay
as they are (integer labels, or multi-hot rows for a per-sample multi-label loss), so cross entropy and
label smoothing work unchanged. Validation is untouched: the callbacks only act in the training phase and
restore the loss function after it.

:class:`MixUp` mixes the batch's inputs (images). Token ids cannot be interpolated, so :class:`FeatureMixUp`
mixes what one module of the model receives instead: for the text classifier, the pooled sentence features
that enter its head ("senMixup", Guo, Mao and Zhang 2019, https://arxiv.org/abs/1905.08941).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ulmfit.train.callbacks import Callback

__all__ = ["FeatureMixUp", "MixUp", "mixup_batch", "mixed_loss"]


def mixup_batch(
    x: torch.Tensor, y: torch.Tensor, alpha: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mix a batch with a shuffled copy of itself (uses torch's global RNG).

    x: (B, ...) float, y: (B, ...) -> (x_mixed (B, ...) same dtype as x, y_shuffled = y[perm],
    lam (B,) float32 on x's device with lam >= 0.5, perm (B,) int64).
    """
    if not alpha > 0:
        raise ValueError(f"alpha (mixup Beta parameter) must be > 0, got {alpha!r}")
    if not torch.is_floating_point(x):
        raise TypeError(f"mixup needs float inputs to interpolate, got a {x.dtype} batch")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"inputs and targets disagree on batch size: {x.shape[0]} vs {y.shape[0]}")
    lam, perm = mixup_weights(x.shape[0], alpha, x.device)
    return mix(x, lam, perm), y[perm], lam, perm


def mixup_weights(bs: int, alpha: float, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """One lambda per sample and a pairing, from torch's global RNG: lam (bs,) float32 in [0.5, 1], perm (bs,)."""
    a = torch.tensor(float(alpha))
    # Not torchvision.transforms.v2.MixUp: fastai draws one lambda per sample and keeps max(l, 1 - l);
    # v2's MixUp draws one lambda per batch (and mixes one-hot targets instead of the losses).
    lam = torch.distributions.Beta(a, a).sample((bs,))
    lam = torch.maximum(lam, 1 - lam).to(device)
    return lam, torch.randperm(bs).to(device)


def mix(x: torch.Tensor, lam: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """``lam * x + (1 - lam) * x[perm]`` per sample: x (B, ...), lam (B,), perm (B,) -> (B, ...) in x's dtype."""
    lam_x = lam.view(x.shape[0], *([1] * (x.dim() - 1))).to(x.dtype)
    return torch.lerp(x[perm], x, lam_x)


def _reduction_of(loss_func: Callable) -> str:
    return getattr(loss_func, "reduction", "mean")


def _per_sample(loss_func: Callable, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Unreduced losses: flips a module's ``reduction`` to 'none', or passes ``reduction='none'``."""
    if isinstance(loss_func, nn.Module) and hasattr(loss_func, "reduction"):
        old = loss_func.reduction
        loss_func.reduction = "none"
        try:
            out = loss_func(pred, target)
        finally:
            loss_func.reduction = old
    else:
        try:
            out = loss_func(pred, target, reduction="none")
        except TypeError as e:
            raise TypeError(
                f"MixUp needs per-sample losses: the loss function {loss_func!r} must accept "
                "reduction='none' (as F.cross_entropy does) or be an nn.Module with a `reduction` attribute"
            ) from e
    if out.dim() == 0:
        raise ValueError(
            f"MixUp needs per-sample losses but {loss_func!r} returned a scalar with reduction='none'"
        )
    return out


def mixed_loss(
    loss_func: Callable, pred: torch.Tensor, y: torch.Tensor, y_shuffled: torch.Tensor, lam: torch.Tensor
) -> torch.Tensor:
    """``reduce(lam * L(pred, y) + (1 - lam) * L(pred, y_shuffled))`` with L's own reduction.

    pred: (B, C), y / y_shuffled: (B,), lam: (B,) -> scalar (or (B,) if L's reduction is 'none').
    """
    l1 = _per_sample(loss_func, pred, y).float()
    l2 = _per_sample(loss_func, pred, y_shuffled).float()
    lam = lam.view(-1, *([1] * (l1.dim() - 1)))
    loss = torch.lerp(l2, l1, lam)
    reduction = _reduction_of(loss_func)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


class _MixedLoss(Callback):
    """The loss side both mixups share: in training, ``learn.loss_func`` becomes the mixed loss of this
    batch's ``(lam, perm)`` (``self._batch``, drawn in ``before_batch``); it is restored after training and
    after the fit (also when training stopped early). The LR finder sweeps with the mixed loss too
    (``in_lr_find``), as the training it is for."""

    in_lr_find = True

    def __init__(self, alpha: float) -> None:
        self.alpha = float(alpha)
        self._orig_loss: Callable | None = None
        self._batch: tuple[torch.Tensor, torch.Tensor] | None = None  # (lam, perm) of this training batch

    def before_train(self, learn) -> None:
        if self._orig_loss is None:
            self._orig_loss = learn.loss_func
            learn.loss_func = self._loss

    def _loss(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self._batch is None:  # no batch mixed (validation, or a call outside a training batch): plain loss
            return self._orig_loss(pred, y)
        lam, perm = self._batch
        return mixed_loss(self._orig_loss, pred, y, y[perm], lam)

    def _restore(self, learn) -> None:
        if self._orig_loss is not None:
            learn.loss_func = self._orig_loss
            self._orig_loss = None
        self._batch = None

    def after_train(self, learn) -> None:
        self._restore(learn)

    def after_fit(self, learn) -> None:
        self._restore(learn)


class MixUp(_MixedLoss):
    """Mix each training batch; compute the mixed loss; leave validation alone.

    ``MixUp(alpha=0.4)`` as fastai (Beta(0.4, 0.4); smaller alpha mixes less).
    """

    def __init__(self, alpha: float = 0.4) -> None:
        if not isinstance(alpha, (int, float)) or not alpha > 0:
            raise ValueError(f"alpha (mixup Beta parameter) must be a number > 0, got {alpha!r}")
        super().__init__(alpha)

    def before_batch(self, learn) -> None:
        self._batch = None
        if not learn.training:
            return
        x, y = learn.xb, learn.yb
        if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise TypeError(
                "MixUp needs batches of one input tensor and one target tensor, got "
                f"{type(x).__name__} and {type(y).__name__}"
            )
        if y.dim() != 1 or torch.is_floating_point(y):
            raise TypeError(f"MixUp needs integer class targets of shape (B,), got {y.dtype} {tuple(y.shape)}")
        learn.xb, _, lam, perm = mixup_batch(x, y, self.alpha)
        self._batch = (lam, perm)


class FeatureMixUp(_MixedLoss):
    """Mix the input of ``module`` (a part of the model, e.g. the text classifier's head) in training batches.

    A forward pre-hook replaces the module's first argument ``h`` (B, ...) by ``lam * h + (1 - lam) * h[perm]``
    with one ``lam`` per sample (Beta(alpha, alpha), kept >= 0.5) and one pairing per batch, drawn in
    ``before_batch``; the loss becomes ``reduce(lam * L(pred, y) + (1 - lam) * L(pred, y[perm]))``. Everything
    before ``module`` sees the batch unmixed and trains through both members of each pair. Validation,
    prediction and calls without gradients are untouched. The model must call ``module`` once per batch.
    """

    def __init__(self, module: nn.Module, alpha: float = 0.4) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            raise ValueError(f"FeatureMixUp alpha (Beta parameter) must be a number > 0, got {alpha!r}")
        super().__init__(alpha)
        self.module, self._handle = module, None

    def before_fit(self, learn) -> None:
        self._handle = self.module.register_forward_pre_hook(self._hook)

    def before_batch(self, learn) -> None:
        self._batch = None
        if learn.training:
            self._batch = mixup_weights(learn.yb.shape[0], self.alpha, learn.yb.device)

    def _hook(self, module: nn.Module, args: tuple) -> tuple | None:
        if self._batch is None or not torch.is_grad_enabled():
            return None
        lam, perm = self._batch
        if args[0].shape[0] != perm.shape[0]:
            raise ValueError(f"FeatureMixUp: the module's input has {args[0].shape[0]} rows, the batch "
                             f"{perm.shape[0]} targets")
        return (mix(args[0], lam, perm), *args[1:])

    def after_fit(self, learn) -> None:
        super().after_fit(learn)
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
