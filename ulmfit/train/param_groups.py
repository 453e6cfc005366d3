"""Layer groups -> optimizer parameter groups, freezing, and discriminative learning rates.

A model may define ``layer_groups() -> list[nn.Module]``; otherwise the whole model is one group.
A parameter held by several groups (tied weights) belongs to the first group that holds it; parameters
that no group holds are put in the last group so that nothing is silently left untrained.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "NORM_TYPES",
    "get_layer_groups",
    "group_parameters",
    "is_no_decay",
    "make_param_groups",
    "norm_parameter_ids",
    "set_trainable",
    "spread_lr",
]

# Normalisation layers: kept trainable in frozen groups (train_bn) and never weight-decayed.
NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,  # BatchNorm*, InstanceNorm*, SyncBatchNorm
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
) + ((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())


def get_layer_groups(model: nn.Module) -> list[nn.Module]:
    """The model's ``layer_groups()`` if it has one, else ``[model]``."""
    fn = getattr(model, "layer_groups", None)
    if fn is None:
        return [model]
    groups = list(fn())
    if not groups:
        raise ValueError(f"{type(model).__name__}.layer_groups() returned no groups; expected >= 1 module")
    return groups


def group_parameters(model: nn.Module) -> list[list[nn.Parameter]]:
    """Parameters of each layer group, each parameter in exactly one group (first holder wins)."""
    seen: set[int] = set()
    out: list[list[nn.Parameter]] = []
    for g in get_layer_groups(model):
        ps = []
        for p in g.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                ps.append(p)
        out.append(ps)
    out[-1].extend(p for p in model.parameters() if id(p) not in seen)
    return out


def norm_parameter_ids(model: nn.Module) -> set[int]:
    """ids of the parameters owned by normalisation layers."""
    return {id(p) for m in model.modules() if isinstance(m, NORM_TYPES) for p in m.parameters(recurse=False)}


def is_no_decay(name: str) -> bool:
    """True for biases: the parameter's own name is ``bias`` or starts with ``bias`` (LSTM ``bias_ih_l0``).

    Unlike fastai (which exempts only ``module.bias`` attributes), recurrent biases are exempt too.
    """
    leaf = name.rsplit(".", 1)[-1]
    return leaf.startswith("bias")


def make_param_groups(model: nn.Module, wd: float) -> list[dict]:
    """Optimizer param groups: per layer group, one group with weight decay and one without
    (norm-layer parameters and biases). Each dict carries ``layer_group`` (its layer-group index)."""
    norm_ids = norm_parameter_ids(model)
    names = {id(p): n for n, p in model.named_parameters(remove_duplicate=False)}
    out: list[dict] = []
    for i, ps in enumerate(group_parameters(model)):
        decay = [p for p in ps if id(p) not in norm_ids and not is_no_decay(names.get(id(p), ""))]
        no_decay = [p for p in ps if id(p) in norm_ids or is_no_decay(names.get(id(p), ""))]
        if decay:
            out.append({"params": decay, "weight_decay": wd, "layer_group": i})
        if no_decay:
            out.append({"params": no_decay, "weight_decay": 0.0, "layer_group": i})
    return out


def set_trainable(model: nn.Module, n: int, train_bn: bool = True) -> None:
    """Freeze the layer groups before index ``n`` (python indexing; ``-1`` = only the last is trainable).

    Frozen parameters get ``requires_grad=False``, except norm-layer parameters when ``train_bn``.
    """
    groups = group_parameters(model)
    n_groups = len(groups)
    if not -n_groups <= n <= n_groups:
        raise ValueError(
            f"freeze_to n must be in [{-n_groups}, {n_groups}] for {n_groups} layer groups, got {n}"
        )
    start = n % n_groups if n != n_groups else n_groups
    norm_ids = norm_parameter_ids(model)
    for i, ps in enumerate(groups):
        for p in ps:
            p.requires_grad_(i >= start or (train_bn and id(p) in norm_ids))


def spread_lr(lr: float | slice | Sequence[float], n_groups: int) -> list[float]:
    """Per-group learning rates.

    float -> the same for all; ``slice(hi)`` -> ``hi/10`` for all but the last, which gets ``hi``;
    ``slice(lo, hi)`` -> geometric spread from ``lo`` (first group) to ``hi`` (last group);
    a sequence -> used as is (its length must be the number of groups).
    """
    if isinstance(lr, slice):
        if lr.step is not None or lr.stop is None:
            raise ValueError(f"lr slice must be slice(hi) or slice(lo, hi), got {lr}")
        hi = float(lr.stop)
        if lr.start is None:
            return [hi / 10] * (n_groups - 1) + [hi]
        lo = float(lr.start)
        if n_groups == 1:
            return [hi]
        if lo <= 0 or hi <= 0:
            raise ValueError(f"lr slice bounds must be > 0, got {lr}")
        step = (hi / lo) ** (1 / (n_groups - 1))
        return [lo * step**i for i in range(n_groups)]
    if isinstance(lr, (int, float)) or (isinstance(lr, torch.Tensor) and lr.ndim == 0):
        return [float(lr)] * n_groups
    if isinstance(lr, Sequence) and not isinstance(lr, (str, bytes)):
        if len(lr) != n_groups:
            raise ValueError(f"lr has {len(lr)} values but the model has {n_groups} layer groups")
        return [float(x) for x in lr]
    raise TypeError(f"lr must be a float, a slice or a sequence of floats, got {type(lr).__name__}: {lr!r}")
