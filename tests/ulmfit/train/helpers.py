"""Tiny stand-ins for the training-core tests: a shuffling loader driven by set_epoch, small models, and
a two-process torchrun launcher."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[3]


def run_torchrun(script: Path, *args: str, nproc: int = 2, timeout: float = 600) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node nproc script *args`` on a free local port, one thread per process, the
    repository importable; returns the finished process (stdout and stderr captured as text)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr",
           "127.0.0.1", "--master_port", str(port), str(script), *map(str, args)]
    return subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)


class EpochLoader:
    """Batches ``(x, y)`` from tensors; the order depends only on ``seed`` and ``set_epoch`` (like our
    text loaders), sharded by ``rank``/``world_size`` (each rank gets ``bs`` rows of a global batch of
    ``bs * world_size``)."""

    def __init__(self, x, y, bs=8, shuffle=True, seed=0, rank=0, world_size=1):
        self.x, self.y, self.bs, self.shuffle, self.seed = x, y, bs, shuffle, seed
        self.rank, self.world_size, self.epoch = rank, world_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.x) // (self.bs * self.world_size)

    def __iter__(self):
        n = len(self.x)
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
            order = torch.randperm(n, generator=g)
        else:
            order = torch.arange(n)
        gbs = self.bs * self.world_size
        for i in range(len(self)):
            idx = order[i * gbs : (i + 1) * gbs][self.rank * self.bs : (self.rank + 1) * self.bs]
            yield self.x[idx], self.y[idx]


def blobs(n=256, d=8, n_classes=3, seed=0):
    """Linearly separable-ish Gaussian blobs: x (n, d) float, y (n,) int64."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(n_classes, d, generator=g) * 4
    y = torch.randint(0, n_classes, (n,), generator=g)
    x = centers[y] + torch.randn(n, d, generator=g) * 0.5
    return x, y


class MLP(nn.Module):
    """Three layer groups (two hidden blocks with BatchNorm, a head), optional dropout."""

    def __init__(self, d=8, h=16, n_out=3, p=0.0, bn=True):
        super().__init__()
        norm = (lambda: nn.BatchNorm1d(h)) if bn else nn.Identity
        self.block1 = nn.Sequential(nn.Linear(d, h), norm(), nn.ReLU(), nn.Dropout(p))
        self.block2 = nn.Sequential(nn.Linear(h, h), norm(), nn.ReLU(), nn.Dropout(p))
        self.head = nn.Linear(h, n_out)

    def forward(self, x):
        return self.head(self.block2(self.block1(x)))

    def layer_groups(self):
        return [self.block1, self.block2, self.head]
