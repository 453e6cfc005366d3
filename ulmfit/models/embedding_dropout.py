"""Embedding dropout: drop whole words (rows of the embedding matrix) for a forward pass."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DropoutEmbedding", "embedding_dropout"]


def embedding_dropout(
    weight: torch.Tensor, words: torch.Tensor, p: float, training: bool = True, padding_idx: int | None = None
) -> torch.Tensor:
    """Look up ``words`` in ``weight`` with whole rows dropped.

    weight: (V, E), words: (B, T) int64 -> (B, T, E).

    Semantically a (V, 1) Bernoulli mask scales the whole matrix by mask/(1-p), so a dropped word is zero
    at every position of the batch. Only the looked-up rows are multiplied (same values and gradients,
    without touching the V x E matrix).
    """
    emb = F.embedding(words, weight, padding_idx)
    if not training or p == 0.0:
        return emb
    row_mask = weight.new_empty(weight.size(0)).bernoulli_(1.0 - p).div_(1.0 - p)  # (V,)
    return emb * row_mask[words].unsqueeze(-1)


class DropoutEmbedding(nn.Embedding):
    """``nn.Embedding`` with embedding dropout ``p`` in training (fastai's ``EmbeddingDropout``).

    Initialised uniform(-0.1, 0.1), which (as in fastai) also overwrites the pad row; the pad row gets
    no gradient. words: (B, T) int64 -> (B, T, E).
    """

    def __init__(
        self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None, p: float = 0.0
    ):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"DropoutEmbedding p must be in [0, 1), got {p!r}")
        super().__init__(num_embeddings, embedding_dim, padding_idx=padding_idx)
        self.p = p
        with torch.no_grad():
            self.weight.uniform_(-0.1, 0.1)

    def forward(self, words: torch.Tensor) -> torch.Tensor:
        return embedding_dropout(self.weight, words, self.p, self.training, self.padding_idx)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", p={self.p}"
