"""Weight dropout (DropConnect) on an LSTM's hidden-to-hidden matrix, keeping the fused kernel.

Unlike salesforce/awd-lstm-lm's ``WeightDrop`` (and fastai's ``WeightDropout``), nothing is deleted or
monkeypatched: the layer owns its four parameters and calls the same fused op as ``nn.LSTM``
(native CPU kernel, cuDNN on GPU) with the dropped matrix. On CUDA the four weights are concatenated
into one buffer per forward so cuDNN sees a single contiguous chunk (no warning, no hidden copy).

Under bf16 autocast on a CPU whose oneDNN has no bfloat16 LSTM kernel (no AVX512-BF16: torch then fails
with "could not create a primitive descriptor for the LSTM forward propagation primitive"), the layer runs
its LSTM in fp32 instead, with one warning; the rest of the model stays in bf16. A tiny probe, run once per
process, finds out which case this CPU is.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from ulmfit.user_warning import warn

__all__ = ["WeightDropLSTM", "single_chunk"]

LSTMHidden = tuple[torch.Tensor, torch.Tensor]


def single_chunk(weights: list[torch.Tensor]) -> list[torch.Tensor]:
    """Copy ``weights`` into one contiguous buffer, in order, and return views of it (same shapes).

    For one LSTM layer cuDNN's layout is (w_ih, w_hh, b_ih, b_hh) back to back, so it then uses the buffer
    as is. Gradients flow back to the original tensors through the views and the cat.
    """
    flat = torch.cat([w.reshape(-1) for w in weights])
    return [chunk.view_as(w) for chunk, w in zip(flat.split([w.numel() for w in weights]), weights)]


def _fused_lstm(x: torch.Tensor, hx: LSTMHidden, weights: list[torch.Tensor],
                training: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fused one-layer, batch-first LSTM op that ``nn.LSTM`` calls: -> out (B, T, H), h, c (1, B, H)."""
    return torch._VF.lstm(x, hx, weights, True, 1, 0.0, training, False, True)


@functools.cache
def cpu_bf16_lstm_runs() -> bool:
    """Whether the fused LSTM runs under CPU bf16 autocast here (forward and backward); probed once per
    process with the call :class:`WeightDropLSTM` makes (fp32 inputs and weights, autocast casting them)."""
    try:  # grad on, even when the first bf16 forward is an evaluation under no_grad / inference_mode
        with torch.inference_mode(False), torch.enable_grad():
            x = torch.zeros(1, 2, 4, requires_grad=True)
            hx = (torch.zeros(1, 1, 4), torch.zeros(1, 1, 4))
            weights = [torch.zeros(16, 4), torch.zeros(16, 4), torch.zeros(16), torch.zeros(16)]
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = _fused_lstm(x, hx, weights, True)[0]
            out.float().sum().backward()
    except RuntimeError:
        warn("bf16 autocast: this CPU has no bfloat16 LSTM kernel (oneDNN needs AVX512-BF16), so the "
             "LSTM layers run in fp32 and the rest of the model in bf16")
        return False
    return True


def _cpu_autocast_to_bf16(x: torch.Tensor) -> bool:
    return (x.device.type == "cpu" and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16)


class WeightDropLSTM(nn.Module):
    """A one-layer, unidirectional, batch-first LSTM with weight dropout on ``weight_hh``.

    Parameters (PyTorch's gate order i, f, g, o): ``weight_ih`` (4H, I), ``weight_hh`` (4H, H) (the raw,
    undropped matrix), ``bias_ih`` (4H,), ``bias_hh`` (4H,).
    Init as ``nn.LSTM``: uniform(-1/sqrt(H), 1/sqrt(H)).
    A new dropout mask is drawn on every forward in training; none in eval.
    """

    def __init__(self, input_size: int, hidden_size: int, weight_p: float = 0.0):
        super().__init__()
        if not 0.0 <= weight_p < 1.0:
            raise ValueError(f"WeightDropLSTM weight_p must be in [0, 1), got {weight_p!r}")
        self.input_size, self.hidden_size, self.weight_p = input_size, hidden_size, weight_p
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for w in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
            nn.init.uniform_(w, -bound, bound)

    def dropped_weight_hh(self) -> torch.Tensor:
        """The hidden-to-hidden matrix used by this forward: (4H, H)."""
        if self.training and self.weight_p > 0.0:
            return F.dropout(self.weight_hh, self.weight_p, training=True)
        return self.weight_hh

    def forward(self, x: torch.Tensor, hx: LSTMHidden) -> tuple[torch.Tensor, LSTMHidden]:
        """x: (B, T, I), hx = (h, c) each (1, B, H) -> out (B, T, H), (h, c) each (1, B, H)."""
        weights = [self.weight_ih, self.dropped_weight_hh(), self.bias_ih, self.bias_hh]
        if x.is_cuda:
            weights = single_chunk(weights)
        if _cpu_autocast_to_bf16(x) and not cpu_bf16_lstm_runs():
            dtype = self.weight_ih.dtype
            with torch.autocast("cpu", enabled=False):
                out, h, c = _fused_lstm(x.to(dtype), (hx[0].to(dtype), hx[1].to(dtype)), weights, self.training)
        else:
            out, h, c = _fused_lstm(x, hx, weights, self.training)
        return out, (h, c)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, weight_p={self.weight_p}"
