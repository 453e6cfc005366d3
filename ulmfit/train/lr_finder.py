"""Exponential learning-rate sweep (Smith 2015; fastai's ``lr_find``)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ulmfit.train.checkpoint import get_rng_state, set_rng_state

__all__ = ["LRFinderResult", "lr_find", "suggest_lr"]


@dataclass
class LRFinderResult:
    """The sweep: ``lrs[i]`` was used for the step whose (EMA-smoothed, debiased) loss is ``losses[i]``.

    ``suggestion`` is the steepest-descent point (see :func:`suggest_lr`); ``lr_min`` is fastai's other
    rule of thumb, (lr at the minimum smoothed loss) / 10.
    """

    lrs: list[float]
    losses: list[float]
    suggestion: float
    lr_min: float


def suggest_lr(lrs: list[float], losses: list[float]) -> tuple[float, float]:
    """(steepest-descent lr, min-loss lr / 10). The steepest point is where the smoothed loss falls
    fastest against log(lr), searched up to the minimum loss (the divergent tail is ignored)."""
    if not lrs:
        return math.nan, math.nan
    losses_a = np.asarray(losses, dtype=np.float64)
    i_min = int(np.nanargmin(losses_a))
    lr_min = lrs[i_min] / 10
    if len(lrs) < 3 or i_min < 2:
        return lrs[i_min], lr_min
    grads = np.gradient(losses_a[: i_min + 1], np.log(np.asarray(lrs[: i_min + 1])))
    return float(lrs[int(np.argmin(grads))]), lr_min


def lr_find(
    learn: Any,  # a ulmfit.train.Learner (its public one_batch / set_hparams / prepare_ddp)
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_it: int = 100,
    stop_div: bool = True,
    beta: float = 0.98,
) -> LRFinderResult:
    """Train ``num_it`` steps with the lr growing exponentially from ``start_lr`` to ``end_lr`` (same lr
    for every group), recording the smoothed loss; stop early when it exceeds 4x the best (``stop_div``)
    or becomes NaN. Model weights, optimizer state, scaler state and RNG states are restored afterwards."""
    if not 0 < start_lr < end_lr:
        raise ValueError(f"lr_find needs 0 < start_lr < end_lr, got start_lr={start_lr}, end_lr={end_lr}")
    if num_it < 2:
        raise ValueError(f"lr_find num_it must be >= 2, got {num_it}")
    if len(learn.train_dl) == 0:
        raise ValueError("train_dl is empty (len 0): nothing to sweep over")
    if learn.opt is None:
        learn.create_opt()
    saved_model = copy.deepcopy(learn.model.state_dict())
    saved_opt = copy.deepcopy(learn.opt.state_dict())
    saved_scaler = copy.deepcopy(learn.mp.state_dict())
    saved_rng = get_rng_state()
    lrs: list[float] = []
    losses: list[float] = []
    avg, best = 0.0, math.inf
    learn.prepare_ddp()
    # the sweep is meant to reach divergence: the learner's non-finite guard must not stop it
    saved_guard, learn.max_bad_steps = learn.max_bad_steps, 2**62
    learn.training = True
    learn.model.train()
    sweep_cbs = [cb for cb in learn.cbs if getattr(cb, "in_lr_find", False)]  # e.g. MixUp's mixed loss
    try:
        for cb in sweep_cbs:
            cb.before_train(learn)
        it_done = 0
        while it_done < num_it:
            if hasattr(learn.model, "reset"):
                learn.model.reset()
            for batch in learn.train_dl:
                lr = start_lr * (end_lr / start_lr) ** (it_done / (num_it - 1))
                learn.set_hparams([lr] * learn.n_groups, learn.moms[0])
                learn.one_batch(batch)
                loss = float(learn.loss.detach())
                avg = beta * avg + (1 - beta) * loss
                smooth = avg / (1 - beta ** (it_done + 1))
                it_done += 1
                lrs.append(lr)
                losses.append(smooth)
                best = min(best, smooth)
                if stop_div and (smooth > 4 * best or math.isnan(smooth)):
                    it_done = num_it
                if it_done >= num_it:
                    break
    finally:
        for cb in sweep_cbs:
            cb.after_train(learn)
        learn.max_bad_steps = saved_guard
        learn.reset_guard()
        learn.training = False
        learn.model.load_state_dict(saved_model)
        learn.opt.load_state_dict(saved_opt)
        learn.mp.load_state_dict(saved_scaler)
        learn.opt.zero_grad(set_to_none=True)
        set_rng_state(saved_rng)
    suggestion, lr_min = suggest_lr(lrs, losses)
    return LRFinderResult(lrs=lrs, losses=losses, suggestion=suggestion, lr_min=lr_min)
