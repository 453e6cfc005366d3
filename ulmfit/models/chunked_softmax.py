"""Linear decoder + cross entropy in row chunks, never holding the full (N, V) logits.

A language model's last step, ``cross_entropy(h @ W.T + b, y)``, is the most expensive part of a training
step with a 20k+ vocabulary: under bf16 autocast the logits are written in bf16, copied to fp32, turned
into log-probabilities and back into a gradient, four passes over N x V floats. :func:`linear_cross_entropy`
does the same arithmetic one block of rows at a time and computes the gradients of ``h``, ``W`` and ``b``
during the forward pass (the loss is the last node of the graph, so its gradient is known then); backward
only scales them by the incoming gradient. The memory traffic drops to one block of logits and the three
matmuls run in the autocast dtype (bf16 on AMX CPUs) with an fp32 softmax.

The result equals ``F.cross_entropy(F.linear(h, W, b).float(), y)`` up to rounding (the test checks the
loss and the three gradients against it), so a model trained with it is the ordinary tied-softmax
AWD-LSTM; only the training step is cheaper. Without gradients (validation, ``torch.no_grad``) only the
loss is computed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["linear_cross_entropy"]


def _chunk_rows(n_rows: int, vocab: int, chunk_elems: int) -> int:
    return max(1, min(n_rows, chunk_elems // max(vocab, 1)))


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, weight, bias, target, dtype, chunk_rows):
        want_h, want_w, want_b = ctx.needs_input_grad[:3]
        want_b = want_b and bias is not None
        hc, wc = h.to(dtype), weight.to(dtype)
        n = h.shape[0]
        loss = torch.zeros((), dtype=torch.float32, device=h.device)
        grad_h = torch.empty_like(h) if want_h else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=h.device) if want_w else None
        grad_b = torch.zeros(weight.shape[0], dtype=torch.float32, device=h.device) if want_b else None
        for start in range(0, n, chunk_rows):
            rows = slice(start, min(start + chunk_rows, n))
            logits = (hc[rows] @ wc.t()).float()
            if bias is not None:
                logits += bias.float()
            tgt = target[rows]
            lse = torch.logsumexp(logits, dim=1)
            loss += (lse - logits.gather(1, tgt[:, None]).squeeze(1)).sum()
            if not (want_h or want_w or want_b):
                continue
            # d(mean CE)/d logits = (softmax - onehot) / n, computed in place in the logits block
            grad = logits.sub_(lse[:, None]).exp_()
            grad[torch.arange(grad.shape[0], device=grad.device), tgt] -= 1.0
            grad.div_(n)
            if want_b:
                grad_b += grad.sum(0)
            g = grad.to(dtype)
            if want_h:
                grad_h[rows] = g @ wc
            if want_w:
                grad_w += g.t() @ hc[rows]
        ctx.save_for_backward(grad_h, None if grad_w is None else grad_w.to(weight.dtype),
                              None if grad_b is None else grad_b.to(bias.dtype))
        return loss / n

    @staticmethod
    def backward(ctx, grad_out):
        return (*(None if g is None else g * grad_out.to(g.dtype) for g in ctx.saved_tensors), None, None, None)


def linear_cross_entropy(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, target: torch.Tensor,
                         *, chunk_elems: int = 2 ** 22) -> torch.Tensor:
    """Mean ``cross_entropy(h @ weight.T + bias, target)`` computed ``chunk_elems`` logits at a time.

    h: (N, E) float; weight: (V, E); bias: (V,) or None; target: (N,) int64 in [0, V) -> scalar fp32.
    The matmuls run in the autocast dtype when called under ``torch.autocast`` (else in ``h``'s dtype);
    the softmax is fp32. ``chunk_elems`` (default 4 M, 16 MB of fp32 logits) bounds the memory per block.
    """
    if h.dim() != 2 or target.shape != h.shape[:1] or weight.dim() != 2 or weight.shape[1] != h.shape[1]:
        raise ValueError(f"linear_cross_entropy expects h (N, E), weight (V, E), target (N,); got h "
                         f"{tuple(h.shape)}, weight {tuple(weight.shape)}, target {tuple(target.shape)}")
    device_type = h.device.type
    dtype = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else h.dtype
    if h.shape[0] == 0:
        return F.cross_entropy(F.linear(h, weight, bias).float(), target)  # nan, as torch gives
    with torch.autocast(device_type, enabled=False):
        return _LinearCrossEntropy.apply(h, weight, bias, target, dtype,
                                         _chunk_rows(h.shape[0], weight.shape[0], chunk_elems))
