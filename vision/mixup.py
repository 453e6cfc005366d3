"""MixUp for images: the training core's :class:`ulmfit.train.mixup.MixUp`, under its vision name."""

from ulmfit.train.mixup import MixUp, mixed_loss, mixup_batch

__all__ = ["MixUp", "mixup_batch", "mixed_loss"]
