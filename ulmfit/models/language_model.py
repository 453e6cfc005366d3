"""AWD-LSTM language model: encoder + (tied) linear decoder, and its loss.

State-dict keys: ``encoder.*`` (see :mod:`ulmfit.models.awd_lstm`), ``decoder.weight`` (V, E) (the very
same Parameter as ``encoder.embedding.weight`` when tied) and ``decoder.bias`` (V,).

Training with ``model.chunked_softmax = True`` (what :class:`ulmfit.LanguageModel` does) skips the logits in
the training forward and lets :class:`LMLoss` compute decoder + cross entropy in row chunks
(:mod:`ulmfit.models.chunked_softmax`): the same loss and gradients, without the (B, T, V) logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ulmfit.models.awd_lstm import AWDLSTM, AWDLSTMConfig
from ulmfit.models.chunked_softmax import linear_cross_entropy
from ulmfit.models.locked_dropout import LockedDropout
from ulmfit.models.sampled_softmax import sampled_cross_entropy

__all__ = ["AWDLSTMLanguageModel", "LMLoss", "LinearDecoder", "build_language_model", "lm_loss"]


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
    With ``chunked_softmax`` set, a forward in training mode returns ``(None, raw, dropped)``: the loss
    (:class:`LMLoss`) applies the decoder itself, chunk by chunk. Eval mode always returns logits.
    """

    def __init__(self, vocab_size: int, cfg: AWDLSTMConfig):
        super().__init__()
        self.cfg = cfg
        self.chunked_softmax = False
        self.encoder = AWDLSTM(vocab_size, cfg)
        self.decoder = LinearDecoder(vocab_size, cfg.emb_sz, cfg.output_p, bias=cfg.out_bias)
        if cfg.tie_weights:
            self.decoder.weight = self.encoder.embedding.weight

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raw, _ = self.encoder(x)
        if self.training and self.chunked_softmax:
            return None, raw, self.decoder.output_dp(raw)
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


class LMLoss:
    """Mean next-token cross entropy of an :class:`AWDLSTMLanguageModel`'s output, for the Learner.

    Called with the whole model output ``(logits, raw, dropped)`` and y (B, T): the logits when the model
    produced them (eval mode), else the decoder applied here to ``dropped``: the exact softmax in row
    chunks (:func:`linear_cross_entropy`), or, with ``n_samples``, a sampled softmax over the batch's
    targets plus ``n_samples`` words drawn from ``proposal`` (:func:`sampled_cross_entropy`; pretraining).
    """

    takes_output = True  # the Learner passes the model's whole output, not only its first item

    def __init__(self, model: AWDLSTMLanguageModel, *, n_samples: int | None = None,
                 proposal: torch.Tensor | None = None):
        if n_samples is not None and (proposal is None or n_samples < 1):
            raise ValueError("LMLoss(n_samples=...) needs n_samples >= 1 and a proposal (V,) of word weights")
        self.decoder = model.decoder
        self.n_samples, self.proposal = n_samples, proposal

    def __call__(self, out: tuple, y: torch.Tensor) -> torch.Tensor:
        logits, _, dropped = out
        if logits is not None:
            return lm_loss(logits, y)
        if dropped.shape[:-1] != y.shape:
            raise ValueError(f"LMLoss expects the model output (B, T, E) matching y (B, T), got "
                             f"{tuple(dropped.shape)} and {tuple(y.shape)}")
        h, y = dropped.reshape(-1, dropped.shape[-1]), y.reshape(-1)
        if self.n_samples is None:
            return linear_cross_entropy(h, self.decoder.weight, self.decoder.bias, y)
        return sampled_cross_entropy(h, self.decoder.weight, self.decoder.bias, y, self.proposal, self.n_samples)
