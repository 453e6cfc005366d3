"""Sampled softmax for pretraining: the exact softmax over a batch's own targets plus a sampled tail.

A full softmax over a V-word vocabulary costs three (N, E) x (E, V) matmuls per step, more than the
three LSTM layers together for V = 20k on a CPU. :func:`sampled_cross_entropy` normalises over a
candidate set instead:

* every distinct target word of the batch, with its exact logit ``s_c`` (these words carry most of the
  probability mass: every frequent word of the vocabulary is among a batch's 4,480 targets);
* ``n_samples`` draws (with replacement) from the rest of the vocabulary, proposal ``q`` (the training
  unigram counts ** 0.75, as word2vec), each with logit ``s_c + log(k_c) - log(n_samples * q_c)``, ``k_c``
  its number of draws: an importance-sampled estimate of the missing words' share of the partition sum.

Only the candidates' rows of the (tied) decoder weight get a gradient in a step. The model itself is the
ordinary tied full-softmax AWD-LSTM: validation, evaluation and export use the full softmax, so a
perplexity measured on a model trained this way is the true one. Draws use torch's global generator
(seeded, and saved in the Learner's checkpoints, so runs stay reproducible and resumable).
"""

from __future__ import annotations

import torch

from ulmfit.models.chunked_softmax import linear_cross_entropy

__all__ = ["sampled_cross_entropy", "unigram_proposal"]


def unigram_proposal(counts: torch.Tensor, power: float = 0.75) -> torch.Tensor:
    """Proposal weights (V,) from token counts (V,): ``(counts + 1) ** power`` (every word can be drawn)."""
    return (counts.double() + 1.0).pow(power).float()


def sampled_cross_entropy(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, target: torch.Tensor,
                          proposal: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Mean sampled-softmax cross entropy of ``h @ weight.T + bias`` against ``target``.

    h: (N, E); weight: (V, E); bias: (V,) or None; target: (N,) int64; proposal: (V,) positive weights of
    the words to draw negatives from; n_samples: draws per call. Returns a scalar (fp32).
    """
    vocab = weight.shape[0]
    if proposal.shape != (vocab,):
        raise ValueError(f"proposal must have one weight per vocabulary entry ({vocab}), got {tuple(proposal.shape)}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    positives, local_target = torch.unique(target, return_inverse=True)
    rest = proposal.to(h.device, torch.float32).clone()
    rest[positives] = 0.0
    mass = rest.sum()
    if mass <= 0:  # the batch's targets cover the vocabulary: nothing left to sample, the softmax is exact
        candidates, offset = positives, torch.zeros(len(positives), device=h.device)
    else:
        draws = torch.multinomial(rest, n_samples, replacement=True)
        negatives, k = torch.unique(draws, return_counts=True)
        q = rest[negatives] / mass
        candidates = torch.cat([positives, negatives])
        offset = torch.cat([torch.zeros(len(positives), device=h.device),
                            k.float().log() - (n_samples * q).log()])
    cand_bias = offset if bias is None else bias.index_select(0, candidates).float() + offset
    return linear_cross_entropy(h, weight.index_select(0, candidates), cand_bias, local_target)
