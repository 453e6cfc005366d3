"""AWD-LSTM language model: encoder + (tied) linear decoder, and its loss.

State-dict keys: ``encoder.*`` (see :mod:`ulmfit.models.awd_lstm`), ``decoder.weight`` (V, E) (the very
same Parameter as ``encoder.embedding.weight`` when tied) and ``decoder.bias`` (V,).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ulmfit.models.awd_lstm import AWDLSTM, AWDLSTMConfig
from ulmfit.models.locked_dropout import LockedDropout

__all__ = ["AWDLSTMLanguageModel", "LinearDecoder", "build_language_model", "lm_loss"]


class LinearDecoder(nn.Module):
    """Output dropout (locked) then Linear(emb_sz, vocab).

    x: (B, T, E) -> (logits (B, T, V), dropped (B, T, E)).
    """

    def __init__(self, vocab_size: int, emb_sz: int, output_p: float = 0.1, bias: bool = True):
        super().__init__()
        self.output_dp = LockedDropout(output_p)
        self.weight = nn.Parameter(torch.empty(vocab_size, emb_sz).uniform_(-0.1, 0.1))
        self.bias = nn.Parameter(torch.zeros(vocab_size)) if bias else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dropped = self.output_dp(x)
        return F.linear(dropped, self.weight, self.bias), dropped


class AWDLSTMLanguageModel(nn.Module):
    """AWD-LSTM LM. forward(x (B, T) int64) -> (logits (B, T, V), raw (B, T, E), dropped (B, T, E)).

    Stateful: the recurrent state is carried (detached) from one call to the next; call :meth:`reset`
    between unrelated streams (the Learner does at the start of each training and validation phase).
    """

    def __init__(self, vocab_size: int, cfg: AWDLSTMConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = AWDLSTM(vocab_size, cfg)
        self.decoder = LinearDecoder(vocab_size, cfg.emb_sz, cfg.output_p, bias=cfg.out_bias)
        if cfg.tie_weights:
            self.decoder.weight = self.encoder.embedding.weight

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raw, _ = self.encoder(x)
        logits, dropped = self.decoder(raw)
        return logits, raw, dropped

    def reset(self) -> None:
        """Zero the carried recurrent state."""
        self.encoder.reset()

    def layer_groups(self) -> list[nn.Module]:
        """fastai's ``awd_lstm_lm_split``: one group per LSTM layer, then embedding + decoder."""
        enc = self.encoder
        groups: list[nn.Module] = [nn.ModuleList([rnn, dp]) for rnn, dp in zip(enc.rnns, enc.hidden_dps)]
        groups.append(nn.ModuleList([enc.embedding, self.decoder]))
        return groups


def build_language_model(
    vocab_size: int, cfg: AWDLSTMConfig | None = None, drop_mult: float = 1.0
) -> AWDLSTMLanguageModel:
    """An AWD-LSTM LM (fastai's ``get_language_model``); ``cfg`` defaults to the LM preset, dropouts
    are multiplied by ``drop_mult``."""
    cfg = AWDLSTMConfig.language_model() if cfg is None else cfg
    if not isinstance(cfg, AWDLSTMConfig):
        raise TypeError(f"cfg must be an AWDLSTMConfig or None, got {type(cfg).__name__}")
    return AWDLSTMLanguageModel(vocab_size, cfg.scaled(drop_mult))


def lm_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross entropy over all positions (fastai's ``CrossEntropyLossFlat``).

    logits: (B, T, V) (any float dtype; computed in fp32), y: (B, T) int64 -> scalar.
    """
    if logits.dim() < 2 or logits.shape[:-1] != y.shape:
        raise ValueError(f"lm_loss expects logits (..., V) matching y (...), got {tuple(logits.shape)} "
                         f"and {tuple(y.shape)}")
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1))
