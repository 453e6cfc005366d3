"""The one train/validation hold-out rule used everywhere (LM pretraining and fine-tuning, the classifier,
``split_train_valid``): a seeded permutation, ``max(1, round(n * valid_pct))`` items to validation."""

from __future__ import annotations

import numpy as np

__all__ = ["holdout_split", "holdout_size"]


def holdout_size(n: int, valid_pct: float) -> int:
    """Validation items for ``n`` items: ``round(n * valid_pct)``, at least 1 when ``valid_pct > 0``."""
    if isinstance(valid_pct, bool) or not isinstance(valid_pct, (int, float)) or not 0.0 <= valid_pct < 1.0:
        raise ValueError(f"valid_pct must be a fraction in [0, 1), got {valid_pct!r}")
    if valid_pct == 0 or n < 2:
        return 0
    return min(n - 1, max(1, int(round(n * valid_pct))))


def holdout_split(n: int, valid_pct: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, valid_idx)`` for ``n`` items: ``perm = default_rng(seed).permutation(n)``,
    ``valid = perm[:k]``, ``train = perm[k:]`` with ``k = holdout_size(n, valid_pct)``. Both keep the
    permutation's order; the same ``(n, valid_pct, seed)`` always gives the same split."""
    k = holdout_size(n, valid_pct)
    perm = np.random.default_rng(seed).permutation(n)
    return perm[k:], perm[:k]
