"""Learning-rate and momentum schedules as pure functions of the step.

``step`` counts optimizer steps from 0 and ``total`` is the number of steps of the fit call; the value
returned is the one used for step ``step`` (so step 0 of a one-cycle run uses ``lr_max / div``, as
fastai does: its position is ``step / total``).
"""

from __future__ import annotations

import math

__all__ = [
    "cosine_anneal",
    "one_cycle_lr",
    "one_cycle_mom",
    "slanted_triangular_lr",
    "constant",
]


def cosine_anneal(start: float, end: float, pos: float) -> float:
    """Cosine interpolation from ``start`` (pos=0) to ``end`` (pos=1)."""
    return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def _check(step: int, total: int) -> None:
    if total < 1:
        raise ValueError(f"total must be >= 1 steps, got {total}")
    if not 0 <= step <= total:
        raise ValueError(f"step must be in [0, total={total}], got {step}")


def _two_phase(pos: float, pct_start: float, a: float, b: float, c: float) -> float:
    """Cosine a -> b over [0, pct_start), then cosine b -> c over [pct_start, 1]."""
    if pct_start > 0 and pos < pct_start:
        return cosine_anneal(a, b, pos / pct_start)
    if pct_start >= 1:
        return b
    return cosine_anneal(b, c, (pos - pct_start) / (1 - pct_start))


def one_cycle_lr(
    step: int, total: int, lr_max: float, pct_start: float = 0.25, div: float = 25.0, div_final: float = 1e5
) -> float:
    """fastai's one-cycle LR: cosine ``lr_max/div -> lr_max`` over ``pct_start`` of the steps, then cosine
    ``lr_max -> lr_max/div_final``."""
    _check(step, total)
    return _two_phase(step / total, pct_start, lr_max / div, lr_max, lr_max / div_final)


def one_cycle_mom(
    step: int, total: int, moms: tuple[float, float, float] = (0.95, 0.85, 0.95), pct_start: float = 0.25
) -> float:
    """fastai's momentum cycling: cosine ``moms[0] -> moms[1]`` then ``moms[1] -> moms[2]``."""
    _check(step, total)
    return _two_phase(step / total, pct_start, moms[0], moms[1], moms[2])


def slanted_triangular_lr(
    step: int, total: int, lr_max: float, cut_frac: float = 0.1, ratio: float = 32.0
) -> float:
    """Slanted triangular LR (Howard & Ruder 2018, eq. 3).

    ``cut = floor(T * cut_frac)``; ``p = t / cut`` if ``t < cut`` else
    ``1 - (t - cut) / (cut * (1 / cut_frac - 1))``; ``lr = lr_max * (1 + p * (ratio - 1)) / ratio``.
    When ``cut`` is 0 (very short runs) the warm-up is skipped and ``p = 1 - t / T``.
    """
    _check(step, total)
    if not 0 < cut_frac < 1:
        raise ValueError(f"cut_frac must be in (0, 1), got {cut_frac}")
    cut = math.floor(total * cut_frac)
    if cut == 0:
        p = 1 - step / total
    elif step < cut:
        p = step / cut
    else:
        p = 1 - (step - cut) / (cut * (1 / cut_frac - 1))
    return lr_max * (1 + p * (ratio - 1)) / ratio


def constant(step: int, total: int, value: float) -> float:
    """The same value at every step."""
    _check(step, total)
    return value
