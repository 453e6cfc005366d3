"""Default optimizer factories.

An ``opt_func`` takes the learner's param groups (dicts with ``params``, ``weight_decay`` and
``layer_group``; see ``param_groups.make_param_groups``) and returns a ``torch.optim.Optimizer``.
The learner sets ``lr`` and momentum (``betas[0]`` or ``momentum``) on every group before each step.
"""

from __future__ import annotations

import torch

__all__ = ["adam", "sgd"]


def adam(
    param_groups: list[dict], lr: float = 1e-3, mom: float = 0.9, sqr_mom: float = 0.99, eps: float = 1e-5
) -> torch.optim.Optimizer:
    """Adam with decoupled weight decay, fastai's defaults: betas (mom, 0.99), eps 1e-5.

    Weight decay comes from each group (0 for norm-layer params and biases)."""
    return torch.optim.AdamW(param_groups, lr=lr, betas=(mom, sqr_mom), eps=eps)


def sgd(param_groups: list[dict], lr: float = 1e-2, mom: float = 0.9) -> torch.optim.Optimizer:
    """SGD with momentum; weight decay from each group (L2, as torch's SGD applies it)."""
    return torch.optim.SGD(param_groups, lr=lr, momentum=mom)
