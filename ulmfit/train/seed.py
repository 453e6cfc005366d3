"""Seeding in one place: every training entry point calls :func:`seed_everything` before it builds a model.

On CPU the same seed, data and thread count give bitwise identical weights. On CUDA, cuDNN's LSTM and
some atomics-based kernels (embedding backward, index_add) are not deterministic by default;
``deterministic=True`` makes torch pick deterministic kernels where they exist (and raise where they do
not) and sets ``CUBLAS_WORKSPACE_CONFIG`` as cuBLAS requires; it costs speed.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["enable_determinism", "seed_everything"]


def seed_everything(seed: int, deterministic: bool = False) -> int:
    """Seed python ``random``, numpy's global RNG and torch (CPU and every CUDA device); returns ``seed``.

    Loaders are seeded separately from the same seed (their ``seed=`` argument), so that their order does
    not depend on how many random numbers the model initialisation drew.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        enable_determinism()
    return seed


def enable_determinism() -> None:
    """Deterministic kernels for the rest of the process (the command-line tools' ``--deterministic``): torch
    picks them where they exist and raises where they do not; cuDNN's autotuner is off. Slower on a GPU."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
