"""Transfer-learning heads: fastai's ``create_head`` and a body + head model with its layer groups."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from vision.weights import torchvision_model
from vision.xresnet import XRESNET_ARCHS, XResNet

__all__ = ["AdaptiveConcatPool2d", "create_head", "TransferModel", "cut_body", "transfer_model", "num_features"]


class AdaptiveConcatPool2d(nn.Module):
    """Max pool and average pool to ``size``, concatenated (max first) on the channel axis.

    x: (B, C, H, W) -> (B, 2C, size, size)
    """

    def __init__(self, size: int = 1) -> None:
        super().__init__()
        self.mp = nn.AdaptiveMaxPool2d(size)
        self.ap = nn.AdaptiveAvgPool2d(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.mp(x), self.ap(x)], dim=1)


def _bn1d(n: int) -> nn.BatchNorm1d:
    # fastai's BatchNorm(): weight 1, bias 1e-3; the head init skips norm layers, so this stays.
    bn = nn.BatchNorm1d(n)
    nn.init.ones_(bn.weight)
    nn.init.constant_(bn.bias, 1e-3)
    return bn


def create_head(
    nf: int,
    n_out: int,
    lin_ftrs: Sequence[int] | None = (512,),
    ps: float | Sequence[float] = 0.5,
    concat_pool: bool = True,
    first_bn: bool = True,
    bn_final: bool = False,
) -> nn.Sequential:
    """fastai's classifier head for a body with ``nf`` output channels.

    Pool (concat max+avg, giving 2nf features, or avg), flatten, then per hidden layer
    [BN] -> Dropout -> Linear(bias only without BN) -> ReLU, and the same without ReLU to ``n_out``.
    A scalar ``ps`` gives the last dropout ``ps`` and the earlier ones ``ps / 2``. Linear weights are
    kaiming-normal, biases 0; head BatchNorms start at weight 1, bias 1e-3 (as fastai).

    x: (B, nf, H, W) -> logits (B, n_out)
    """
    for name, val in (("nf", nf), ("n_out", n_out)):
        if not isinstance(val, int) or val < 1:
            raise ValueError(f"{name} must be a positive int, got {val!r}")
    hidden = [] if lin_ftrs is None else list(lin_ftrs)
    if not all(isinstance(h, int) and h > 0 for h in hidden):
        raise ValueError(f"lin_ftrs must be a sequence of positive ints (hidden sizes), got {lin_ftrs!r}")
    sizes = [nf * 2 if concat_pool else nf, *hidden, n_out]
    n_lin = len(sizes) - 1
    if isinstance(ps, (int, float)):
        drops = [ps / 2] * (n_lin - 1) + [ps]
    else:
        drops = list(ps)
        if len(drops) != n_lin:
            raise ValueError(f"ps must be a number or {n_lin} dropout probabilities (one per linear layer), "
                             f"got {ps!r}")
    if not all(0.0 <= p < 1.0 for p in drops):
        raise ValueError(f"ps (dropout probabilities) must be in [0, 1), got {ps!r}")
    layers: list[nn.Module] = [AdaptiveConcatPool2d() if concat_pool else nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    for i, (ni, no, p) in enumerate(zip(sizes[:-1], sizes[1:], drops)):
        bn = first_bn or i > 0
        if bn:
            layers.append(_bn1d(ni))
        if p != 0:
            layers.append(nn.Dropout(p))
        lin = nn.Linear(ni, no, bias=not bn)
        nn.init.kaiming_normal_(lin.weight)
        if lin.bias is not None:
            nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i < n_lin - 1:
            layers.append(nn.ReLU(inplace=True))
    if bn_final:
        layers.append(nn.BatchNorm1d(sizes[-1], momentum=0.01))
    return nn.Sequential(*layers)


class TransferModel(nn.Sequential):
    """``body`` then ``head`` (children 0 and 1, as fastai's vision_learner model).

    ``split_at`` cuts the body into two layer groups for discriminative learning rates: groups are
    ``[body[:split_at], body[split_at:], head]`` (fastai's split: 3 for XResNet, the stem; 6 for a
    torchvision ResNet, through layer2), or ``[body, head]`` when ``split_at`` is None.
    x: (B, C, H, W) -> logits (B, n_out)
    """

    def __init__(self, body: nn.Module, head: nn.Module, split_at: int | None = None) -> None:
        if split_at is not None:
            if not isinstance(body, nn.Sequential):
                raise TypeError(f"split_at needs an nn.Sequential body, got {type(body).__name__}")
            if not 0 < split_at < len(body):
                raise ValueError(f"split_at must be in [1, {len(body) - 1}] for this body, got {split_at!r}")
        super().__init__(body, head)
        self.split_at = split_at

    @property
    def body(self) -> nn.Module:
        return self[0]

    @property
    def head(self) -> nn.Module:
        return self[1]

    def layer_groups(self) -> list[nn.Module]:
        """Parameter groups, earliest first: the core freezes all but the last (the head)."""
        if self.split_at is None:
            return [self.body, self.head]
        return [self.body[: self.split_at], self.body[self.split_at :], self.head]


def _is_torchvision_resnet(model: nn.Module) -> bool:
    from torchvision.models import ResNet

    return isinstance(model, ResNet)


def cut_body(model: nn.Module) -> tuple[nn.Sequential, int | None]:
    """The part of ``model`` before its pooling layer, and fastai's split point.

    XResNet: ``model[:-4]``, split 3. torchvision ResNet: its children but avgpool and fc, split 6.
    Any other module is taken as an already-cut body (split None).
    """
    if isinstance(model, XResNet):
        return model.body, model.n_stem
    if _is_torchvision_resnet(model):
        return nn.Sequential(*list(model.children())[:-2]), 6
    return model, None


def num_features(body: nn.Module, c_in: int | None = None, size: int = 64) -> int:
    """Channels a body outputs, found with one small forward pass in eval mode (state restored)."""
    if c_in is None:
        conv = next((m for m in body.modules() if isinstance(m, nn.Conv2d)), None)
        c_in = conv.in_channels if conv is not None else 3
    param = next(body.parameters(), None)
    x = torch.zeros(2, c_in, size, size, device=param.device if param is not None else "cpu")
    was_training = body.training
    body.eval()
    try:
        with torch.no_grad():
            out = body(x)
    finally:
        body.train(was_training)
    if out.dim() != 4:
        raise ValueError(f"the body must output (B, C, H, W) feature maps, got shape {tuple(out.shape)}")
    return out.shape[1]


_TV_PREFIXES = ("resnet", "resnext", "wide_resnet")


def _build_arch(arch: str, weights, c_in: int, arch_kwargs: dict) -> nn.Module:
    if arch in XRESNET_ARCHS:
        if weights is not None:
            raise ValueError(f"no pretrained weights exist for {arch!r}: pass weights=None, or reuse our own "
                             "saved model folder with vision.learner.build_model(arch, n_out, checkpoint=DIR)")
        return XRESNET_ARCHS[arch](c_in=c_in, **arch_kwargs)
    if arch.startswith(_TV_PREFIXES):
        import torchvision

        if arch not in torchvision.models.list_models(torchvision.models):
            raise ValueError(f"unknown torchvision architecture {arch!r}")
        if c_in != 3:
            raise ValueError(f"torchvision ResNets take 3 input channels, got c_in={c_in}")
        return torchvision_model(arch, weights, **arch_kwargs)  # a failed download: one DownloadError line
    raise ValueError(f"unknown architecture {arch!r}: expected one of {sorted(XRESNET_ARCHS)} or a torchvision "
                     f"ResNet name ({', '.join(p + '*' for p in _TV_PREFIXES)}), or an nn.Module")


def transfer_model(
    arch: str | nn.Module,
    n_out: int,
    *,
    weights=None,
    split_at: int | None = None,
    c_in: int = 3,
    lin_ftrs: Sequence[int] | None = (512,),
    ps: float | Sequence[float] = 0.5,
    concat_pool: bool = True,
    first_bn: bool = True,
    bn_final: bool = False,
    **arch_kwargs,
) -> TransferModel:
    """A pretrained-style body with a fresh :func:`create_head` for ``n_out`` classes.

    Args:
        arch: an XResNet name ("xresnet50"), a torchvision ResNet name ("resnet34", ``weights=`` passes
            through, e.g. ``"IMAGENET1K_V1"``; needs internet), or a model (XResNet, torchvision ResNet,
            or an already-cut nn.Module body).
        split_at: the body's layer-group split (see :class:`TransferModel`); None takes fastai's split for
            the architecture (3 for XResNet, 6 for a torchvision ResNet, none for another body). Pass the
            ``split_at`` of a saved TransferModel when reusing its body.

    To reuse the body of a model folder saved by this package, use
    ``vision.learner.build_model(arch, n_out, checkpoint=DIR)``, which loads it and calls this.
    """
    if "checkpoint" in arch_kwargs:
        raise TypeError("transfer_model takes no checkpoint=: load a saved model folder with "
                        "vision.learner.build_model(arch, n_out, checkpoint=DIR)")
    model = _build_arch(arch, weights, c_in, arch_kwargs) if isinstance(arch, str) else arch
    body, split = cut_body(model)
    if split_at is not None:
        split = split_at
    head = create_head(num_features(body), n_out, lin_ftrs=lin_ftrs, ps=ps, concat_pool=concat_pool,
                       first_bn=first_bn, bn_final=bn_final)
    return TransferModel(body, head, split_at=split)
