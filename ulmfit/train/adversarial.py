"""Adversarial training on word embeddings (Miyato, Dai and Goodfellow 2017, "Adversarial Training Methods
for Semi-Supervised Text Classification"): a regulariser for text models trained on few labels.

Each training step first runs as usual (forward, loss, backward). The gradient of that loss with respect to
the embedding layer's output ``e`` gives the direction in which a small change of the input words raises the
loss most. The batch then runs a second time with ``e + r`` in place of ``e``, where for each row::

    r = eps * ||e|| * g / ||g||        g: the row's gradient (B, T, E) -> (T, E), norms over all its entries

so ``eps`` is the perturbation's size relative to the row's own embedding norm (pad positions are left out of
``||e||``), whatever the embedding scale and text length. ``weight`` times the second loss's gradient is added
to the first before the optimizer step, which therefore minimises ``loss(e) + weight * loss(e + r)``. Each
training step costs about two forward and two backward passes; validation is untouched.
"""

from __future__ import annotations

import torch
from torch import nn

from ulmfit.train.callbacks import Callback

__all__ = ["AdversarialEmbedding"]


class AdversarialEmbedding(Callback):
    """Adversarial training on the output of ``embedding`` (an ``nn.Module`` mapping ids (B, T) to (B, T, E)).

    The model may call ``embedding`` several times in one forward pass (the classifier reads long texts in
    ``bptt`` chunks): each call is perturbed with the gradient of its own output, matched by call order. Calls
    made without gradients (the state-building chunks of long texts) are not perturbed. The model must read
    every batch from a fresh state (the classifier does; a stateful language model would advance its carried
    state twice). ``learn.loss`` becomes the sum of both losses, so the reported training loss and the
    non-finite guard include the perturbed pass.
    """

    def __init__(self, embedding: nn.Module, eps: float, weight: float = 1.0):
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(f"AdversarialEmbedding eps must be a number > 0, got {eps!r}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise ValueError(f"AdversarialEmbedding weight must be a number > 0, got {weight!r}")
        self.embedding, self.eps, self.weight = embedding, float(eps), float(weight)
        self.pad_idx = getattr(embedding, "padding_idx", None)
        self._handle = None
        self._reset(active=False)

    def _reset(self, active: bool) -> None:
        self._active = active
        self._seen: list[tuple[torch.Tensor, torch.Tensor]] = []  # (ids, embedded) per call, clean pass
        self._deltas: list[torch.Tensor | None] | None = None       # perturbations, perturbed pass
        self._next = 0

    def _hook(self, module: nn.Module, args: tuple, out: torch.Tensor) -> torch.Tensor | None:
        if not self._active or not torch.is_grad_enabled():
            return None
        if self._deltas is None:  # clean pass: keep each output to read its gradient after the backward
            if not out.requires_grad:  # a frozen embedding: its output is a leaf
                out.requires_grad_(True)
            out.retain_grad()
            self._seen.append((args[0], out))
            return None
        delta = self._deltas[self._next] if self._next < len(self._deltas) else None
        self._next += 1
        return None if delta is None else out + delta.to(out.dtype)

    def _perturbation(self, ids: torch.Tensor, e: torch.Tensor) -> torch.Tensor | None:
        """ids (B, T), e (B, T, E) with its gradient -> r (B, T, E), or None without a gradient."""
        if e.grad is None:
            return None
        g = e.grad.detach().float()
        e = e.detach().float()
        if self.pad_idx is not None:
            e = e * (ids != self.pad_idx).unsqueeze(-1).to(e.dtype)
        e_norm = torch.linalg.vector_norm(e.flatten(1), dim=1)  # (B,)
        g_norm = torch.linalg.vector_norm(g.flatten(1), dim=1).clamp_min(1e-12)
        return g * (self.eps * e_norm / g_norm).view(-1, *([1] * (g.dim() - 1)))

    def before_fit(self, learn) -> None:
        self._handle = self.embedding.register_forward_hook(self._hook)

    def after_fit(self, learn) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self._reset(active=False)

    def before_batch(self, learn) -> None:
        self._reset(active=learn.training)

    def before_step(self, learn) -> None:
        if not self._seen:
            return
        deltas = [self._perturbation(ids, e) for ids, e in self._seen]
        self._seen, self._deltas, self._next = [], deltas, 0
        model = learn.ddp_model if learn.ddp_model is not None else learn.model
        with learn.mp.autocast():
            out = learn._forward(model, learn.xb)
        loss = learn.loss_of(out, learn.pred_of(out))
        learn.mp.backward(self.weight * loss)
        learn.loss = learn.loss.detach() + self.weight * loss.detach()
        self._reset(active=False)
