"""XResNet: ResNet with the "Bag of Tricks" tweaks (He et al. 2019, https://arxiv.org/abs/1812.01187).

* ResNet-C stem: three 3x3 convs (the first with stride 2) instead of one 7x7, then a 3x3 max pool.
* ResNet-B: in a bottleneck the stride sits on the 3x3 conv, not on the first 1x1.
* ResNet-D: a downsampling shortcut average-pools (2x2, ``ceil_mode``) before its 1x1 conv, so that it
  sees every input pixel instead of one in four.
* The last BatchNorm of every residual branch starts at weight 0, so each block starts as the identity.

The family is blocks + one generic class + thin builders, as torchvision's ``resnet.py``. The child
layout (stem convs 0-2, max pool 3, stages 4-7, pool/flatten/dropout/linear 8-11) and the parameter
names follow fastai's ``XResNet`` so that its parameter counts and state_dict keys match ours.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "ConvBN",
    "ResBlock",
    "XResNet",
    "init_cnn",
    "xresnet18",
    "xresnet34",
    "xresnet50",
    "xresnet101",
    "xresnet152",
    "XRESNET_ARCHS",
]


class ConvBN(nn.Sequential):
    """conv(ks, stride, 'same' padding, no bias) -> BatchNorm -> optional activation.

    ``zero_bn=True`` starts the BatchNorm weight at 0 (the last layer of a residual branch).
    x: (B, ni, H, W) -> (B, nf, ceil(H/stride), ceil(W/stride))
    """

    def __init__(
        self,
        ni: int,
        nf: int,
        ks: int = 3,
        stride: int = 1,
        act_cls: type[nn.Module] | None = nn.ReLU,
        zero_bn: bool = False,
    ) -> None:
        bn = nn.BatchNorm2d(nf)
        bn.is_zero_init = zero_bn  # read by init_cnn
        layers: list[nn.Module] = [nn.Conv2d(ni, nf, ks, stride=stride, padding=ks // 2, bias=False), bn]
        if act_cls is not None:
            layers.append(act_cls())
        super().__init__(*layers)


class ResBlock(nn.Module):
    """A residual block: ``act(convpath(x) + idpath(x))``.

    ``expansion=1`` is the basic block (3x3, 3x3); ``expansion=4`` the bottleneck (1x1, 3x3, 1x1 x4)
    with the stride on the 3x3 (ResNet-B). ``ni`` and ``nh`` are widths before expansion: the block maps
    ``ni * expansion`` channels to ``nh * expansion``. The shortcut is ResNet-D: AvgPool2d(2, ceil_mode)
    when ``stride != 1``, then a 1x1 conv + BN when the channels change; identity otherwise.
    x: (B, ni*expansion, H, W) -> (B, nh*expansion, ceil(H/stride), ceil(W/stride))
    """

    def __init__(
        self, expansion: int, ni: int, nh: int, stride: int = 1, act_cls: type[nn.Module] = nn.ReLU
    ) -> None:
        super().__init__()
        if expansion not in (1, 4):
            raise ValueError(f"expansion must be 1 (basic block) or 4 (bottleneck), got {expansion!r}")
        nf, ni = nh * expansion, ni * expansion
        if expansion == 1:
            path = [
                ConvBN(ni, nh, 3, stride=stride, act_cls=act_cls),
                ConvBN(nh, nf, 3, act_cls=None, zero_bn=True),
            ]
        else:
            path = [
                ConvBN(ni, nh, 1, act_cls=act_cls),
                ConvBN(nh, nh, 3, stride=stride, act_cls=act_cls),
                ConvBN(nh, nf, 1, act_cls=None, zero_bn=True),
            ]
        self.convpath = nn.Sequential(*path)
        shortcut: list[nn.Module] = []
        if stride != 1:
            shortcut.append(nn.AvgPool2d(2, ceil_mode=True))
        if ni != nf:
            shortcut.append(ConvBN(ni, nf, 1, act_cls=None))
        self.idpath = nn.Sequential(*shortcut)
        self.act = act_cls()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.convpath(x) + self.idpath(x))


def init_cnn(module: nn.Module) -> nn.Module:
    """fastai's ``init_cnn``: kaiming_normal_ conv/linear weights, every bias 0 (BatchNorm's too),
    BatchNorm weights 1 except the zero-initialised last BN of each residual branch."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None:
            nn.init.constant_(m.weight, 0.0 if getattr(m, "is_zero_init", False) else 1.0)
        if getattr(m, "bias", None) is not None:
            nn.init.zeros_(m.bias)
    return module


def _check_positive_ints(name: str, value: Sequence[int], length: int | None = None) -> tuple[int, ...]:
    vals = tuple(value) if isinstance(value, (list, tuple)) else None
    if vals is None or not vals or not all(isinstance(v, int) and v > 0 for v in vals):
        raise ValueError(f"{name} must be a non-empty sequence of positive ints, got {value!r}")
    if length is not None and len(vals) != length:
        raise ValueError(f"{name} must have {length} entries, got {len(vals)}: {value!r}")
    return vals


class XResNet(nn.Sequential):
    """The generic XResNet: stem, max pool, one stage per entry of ``layers``, then the classifier.

    Args:
        expansion: 1 (basic blocks, xresnet18/34) or 4 (bottlenecks, xresnet50/101/152).
        layers: blocks per stage, e.g. ``[2, 2, 2, 2]``.
        c_in: input channels; n_out: classes.
        stem_szs: widths of the three stem convs.
        widths: stage widths before expansion (default 64, 128, 256, 512; any length >= 1).
        p: dropout before the final linear layer.
        act_cls: the activation class (``nn.ReLU``, ``nn.SiLU``, ``nn.Mish``, ...).

    x: (B, c_in, H, W) float -> logits (B, n_out). ``model.body`` is children[:-4] (fastai's ``cut=-4``),
    giving (B, widths[-1] * expansion, H/32, W/32) for four stages.
    """

    def __init__(
        self,
        expansion: int,
        layers: Sequence[int],
        *,
        c_in: int = 3,
        n_out: int = 1000,
        stem_szs: Sequence[int] = (32, 32, 64),
        widths: Sequence[int] = (64, 128, 256, 512),
        p: float = 0.0,
        act_cls: type[nn.Module] = nn.ReLU,
    ) -> None:
        layers = _check_positive_ints("layers", layers)
        stem_szs = _check_positive_ints("stem_szs", stem_szs, 3)
        widths = _check_positive_ints("widths", widths, len(layers))
        if not isinstance(c_in, int) or c_in < 1:
            raise ValueError(f"c_in must be a positive int (input channels), got {c_in!r}")
        if not isinstance(n_out, int) or n_out < 1:
            raise ValueError(f"n_out must be a positive int (number of classes), got {n_out!r}")
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p (dropout) must be in [0, 1), got {p!r}")
        if expansion not in (1, 4):
            raise ValueError(f"expansion must be 1 (basic block) or 4 (bottleneck), got {expansion!r}")
        chans = (c_in, *stem_szs)
        stem = [ConvBN(chans[i], chans[i + 1], 3, stride=2 if i == 0 else 1, act_cls=act_cls) for i in range(3)]
        # fastai hard-codes the first stage input as 64 // expansion (= stem output / expansion by default);
        # deriving it from the stem keeps a custom stem_szs consistent.
        if stem_szs[-1] % expansion:
            raise ValueError(f"stem_szs[-1] must be divisible by expansion={expansion}, got {stem_szs!r}")
        block_szs = (stem_szs[-1] // expansion, *widths)
        stages = []
        for i, n_blocks in enumerate(layers):
            blocks = [
                ResBlock(
                    expansion,
                    block_szs[i] if j == 0 else block_szs[i + 1],
                    block_szs[i + 1],
                    stride=(1 if i == 0 else 2) if j == 0 else 1,
                    act_cls=act_cls,
                )
                for j in range(n_blocks)
            ]
            stages.append(nn.Sequential(*blocks))
        super().__init__(
            *stem,
            nn.MaxPool2d(3, stride=2, padding=1),
            *stages,
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(p),
            nn.Linear(block_szs[-1] * expansion, n_out),
        )
        self.expansion = expansion
        self.n_stem = 3  # children before the max pool: fastai's split puts body[:3] in its own group
        init_cnn(self)

    @property
    def body(self) -> nn.Sequential:
        """Everything before the pooling layer (shares modules with ``self``)."""
        # not self[:-4]: Sequential slicing calls type(self)(OrderedDict), which XResNet does not take
        return nn.Sequential(*list(self.children())[:-4])

    @property
    def num_features(self) -> int:
        """Channels the body outputs (the in-features of the final linear layer)."""
        return self[-1].in_features


def xresnet18(**kwargs) -> XResNet:
    """XResNet-18: basic blocks [2, 2, 2, 2]. Keyword arguments as :class:`XResNet`."""
    return XResNet(1, [2, 2, 2, 2], **kwargs)


def xresnet34(**kwargs) -> XResNet:
    """XResNet-34: basic blocks [3, 4, 6, 3]. Keyword arguments as :class:`XResNet`."""
    return XResNet(1, [3, 4, 6, 3], **kwargs)


def xresnet50(**kwargs) -> XResNet:
    """XResNet-50: bottlenecks [3, 4, 6, 3]. Keyword arguments as :class:`XResNet`."""
    return XResNet(4, [3, 4, 6, 3], **kwargs)


def xresnet101(**kwargs) -> XResNet:
    """XResNet-101: bottlenecks [3, 4, 23, 3]. Keyword arguments as :class:`XResNet`."""
    return XResNet(4, [3, 4, 23, 3], **kwargs)


def xresnet152(**kwargs) -> XResNet:
    """XResNet-152: bottlenecks [3, 8, 36, 3]. Keyword arguments as :class:`XResNet`."""
    return XResNet(4, [3, 8, 36, 3], **kwargs)


#: Builders by name, for the CLI and saved model folders.
XRESNET_ARCHS = {
    "xresnet18": xresnet18,
    "xresnet34": xresnet34,
    "xresnet50": xresnet50,
    "xresnet101": xresnet101,
    "xresnet152": xresnet152,
}
