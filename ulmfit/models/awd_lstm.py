"""AWD-LSTM encoder (Merity et al. 2017) as used by ULMFiT, with fastai's configs.

State-dict keys (fixed; ``pretrained/fastai_io.py`` maps them to fastai's)::

    embedding.weight          (V, E)
    rnns.{k}.weight_ih        (4*H_k, I_k)
    rnns.{k}.weight_hh        (4*H_k, H_k)   raw matrix; weight dropout is applied on the fly
    rnns.{k}.bias_ih          (4*H_k,)
    rnns.{k}.bias_hh          (4*H_k,)

with sizes emb_sz -> n_hid -> ... -> n_hid -> emb_sz (the last layer outputs emb_sz, so the decoder can be
tied to the embedding).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ulmfit.models.embedding_dropout import DropoutEmbedding
from ulmfit.models.locked_dropout import LockedDropout
from ulmfit.models.weight_drop import WeightDropLSTM

__all__ = ["AWDLSTM", "AWDLSTMConfig", "LSTMState"]

LSTMState = list[tuple[torch.Tensor, torch.Tensor]]
"""Recurrent state: one ``(h, c)`` per layer, each (1, B, H_k)."""

_DROPOUT_FIELDS = ("output_p", "hidden_p", "input_p", "embed_p", "weight_p")


@dataclass
class AWDLSTMConfig:
    """AWD-LSTM architecture and dropouts; the defaults are fastai's ``awd_lstm_lm_config``."""

    emb_sz: int = 400  # embedding size = last layer's output size
    n_hid: int = 1152  # hidden size of the inner layers
    n_layers: int = 3
    pad_token: int = 1  # index of xxpad (its embedding row gets no gradient)
    bidir: bool = False  # not supported; kept for fastai config compatibility
    output_p: float = 0.1  # locked dropout on the last layer's output (LM decoder / classifier head input)
    hidden_p: float = 0.15  # locked dropout between LSTM layers
    input_p: float = 0.25  # locked dropout on the embedded input
    embed_p: float = 0.02  # embedding dropout (whole words)
    weight_p: float = 0.2  # weight dropout on each layer's hidden-to-hidden matrix
    tie_weights: bool = True  # LM only: decoder weight is the embedding Parameter
    out_bias: bool = True  # LM only: decoder has a (zero-initialised) bias
    backwards: bool = False  # metadata: the model reads text right to left (the loader reverses the stream)

    def __post_init__(self) -> None:
        for name in ("emb_sz", "n_hid", "n_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"AWDLSTMConfig.{name} must be a positive int, got {value!r}")
        if isinstance(self.pad_token, bool) or not isinstance(self.pad_token, int) or self.pad_token < 0:
            raise ValueError(f"AWDLSTMConfig.pad_token must be a non-negative int, got {self.pad_token!r}")
        for name in _DROPOUT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"AWDLSTMConfig.{name} must be a probability in [0, 1), got {value!r}")
            setattr(self, name, float(value))

    @classmethod
    def language_model(cls, **overrides: Any) -> AWDLSTMConfig:
        """fastai's ``awd_lstm_lm_config`` (the dataclass defaults)."""
        return cls.from_dict(overrides)

    @classmethod
    def classifier(cls, **overrides: Any) -> AWDLSTMConfig:
        """fastai's ``awd_lstm_clas_config`` (before ``drop_mult``)."""
        base = dict(output_p=0.4, hidden_p=0.3, input_p=0.4, embed_p=0.05, weight_p=0.5)
        base.update(overrides)
        return cls.from_dict(base)

    def scaled(self, drop_mult: float) -> AWDLSTMConfig:
        """A copy with every ``*_p`` dropout multiplied by ``drop_mult``."""
        if isinstance(drop_mult, bool) or not isinstance(drop_mult, (int, float)) or not 0 <= drop_mult < math.inf:
            raise ValueError(f"drop_mult must be a finite number >= 0, got {drop_mult!r}")
        top = max(_DROPOUT_FIELDS, key=lambda n: getattr(self, n))
        if getattr(self, top) * drop_mult >= 1:
            raise ValueError(f"drop_mult={drop_mult:g} scales {top} {getattr(self, top):g} to "
                             f"{getattr(self, top) * drop_mult:g}, but a dropout probability must stay below 1: "
                             f"use a drop_mult below {1 / getattr(self, top):.3g}")
        return dataclasses.replace(self, **{n: getattr(self, n) * drop_mult for n in _DROPOUT_FIELDS})

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of all fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AWDLSTMConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise a ``ValueError`` listing the valid ones."""
        if not isinstance(d, dict):
            raise TypeError(f"AWDLSTMConfig.from_dict expects a dict, got {type(d).__name__}")
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(valid))
        if unknown:
            raise ValueError(f"unknown AWDLSTMConfig key(s) {unknown}; valid keys are {valid}")
        return cls(**d)


class AWDLSTM(nn.Module):
    """AWD-LSTM encoder: dropped embedding -> locked dropout -> n_layers weight-dropped LSTMs.

    ``forward(x, state=None) -> (out, state)``, x: (B, T) int64 -> out (B, T, emb_sz), the raw (undropped)
    output of the last layer.

    * ``state=None`` (stateful, fastai style): start from the state kept by the previous call (zeros after
      :meth:`reset`; truncated or zero-extended if the batch size changed), keep the new state detached
      (truncated BPTT) and return it.
    * explicit ``state`` (functional): use it as given, store nothing, return the new state undetached.
    """

    def __init__(self, vocab_size: int, cfg: AWDLSTMConfig | None = None):
        super().__init__()
        cfg = AWDLSTMConfig() if cfg is None else cfg
        if not isinstance(cfg, AWDLSTMConfig):
            raise TypeError(f"cfg must be an AWDLSTMConfig, got {type(cfg).__name__}")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}")
        if cfg.pad_token >= vocab_size:
            raise ValueError(f"cfg.pad_token={cfg.pad_token} is outside the vocabulary of size {vocab_size}")
        if cfg.bidir:
            raise ValueError("AWDLSTMConfig.bidir=True is not supported; use bidir=False")
        self.cfg = cfg
        self.vocab_size = vocab_size
        self.embedding = DropoutEmbedding(vocab_size, cfg.emb_sz, padding_idx=cfg.pad_token, p=cfg.embed_p)
        self.input_dp = LockedDropout(cfg.input_p)
        sizes = [cfg.emb_sz] + [cfg.n_hid] * (cfg.n_layers - 1) + [cfg.emb_sz]
        self.rnns = nn.ModuleList(
            WeightDropLSTM(sizes[k], sizes[k + 1], cfg.weight_p) for k in range(cfg.n_layers)
        )
        self.hidden_dps = nn.ModuleList(LockedDropout(cfg.hidden_p) for _ in range(cfg.n_layers))
        self._state: LSTMState | None = None

    @property
    def hidden_sizes(self) -> list[int]:
        return [rnn.hidden_size for rnn in self.rnns]

    def reset(self) -> None:
        """Forget the carried state (the next stateful call starts from zeros)."""
        self._state = None

    def get_recurrent_state(self) -> list[list[torch.Tensor]] | None:
        """The carried state as ``[[h, c], ...]`` (CPU copies) or None: what a training checkpoint saves
        so that a run resumed mid-epoch continues from the same state."""
        if self._state is None:
            return None
        return [[h.detach().cpu().clone(), c.detach().cpu().clone()] for h, c in self._state]

    def set_recurrent_state(self, state: list[list[torch.Tensor]] | None) -> None:
        """Inverse of :meth:`get_recurrent_state` (None: as after :meth:`reset`)."""
        if state is None:
            self._state = None
            return
        if len(state) != len(self.rnns):
            raise ValueError(f"recurrent state has {len(state)} layers, this encoder {len(self.rnns)}")
        device = self.embedding.weight.device
        self._state = [(h.to(device), c.to(device)) for h, c in state]

    def init_state(self, batch_size: int, device: torch.device | None = None) -> LSTMState:
        """Zero state for ``batch_size`` sequences: one (h, c) per layer, each (1, B, H_k)."""
        w = self.embedding.weight
        device = w.device if device is None else device
        return [
            (w.new_zeros(1, batch_size, h, device=device), w.new_zeros(1, batch_size, h, device=device))
            for h in self.hidden_sizes
        ]

    def _stored_state(self, batch_size: int, device: torch.device) -> LSTMState:
        state = self._state
        if state is None:
            return self.init_state(batch_size, device)
        dtype = self.embedding.weight.dtype  # autocast may have left a lower-precision state behind
        if state[0][0].device != device or state[0][0].dtype != dtype:
            state = [(h.to(device, dtype), c.to(device, dtype)) for h, c in state]
        old_bs = state[0][0].size(1)
        if old_bs > batch_size:  # fewer sequences: keep the first ones
            state = [(h[:, :batch_size], c[:, :batch_size]) for h, c in state]
        elif old_bs < batch_size:  # more sequences: the new ones start from zeros
            extra = self.init_state(batch_size - old_bs, device)
            state = [(torch.cat([h, eh], 1), torch.cat([c, ec], 1)) for (h, c), (eh, ec) in zip(state, extra)]
        return state

    def forward(self, x: torch.Tensor, state: LSTMState | None = None) -> tuple[torch.Tensor, LSTMState]:
        """x: (B, T) int64 -> (out (B, T, emb_sz), state: n_layers x (h, c) each (1, B, H_k))."""
        if x.dim() != 2:
            raise ValueError(f"AWDLSTM expects token ids of shape (B, T), got shape {tuple(x.shape)}")
        stateful = state is None
        if stateful:
            state = self._stored_state(x.size(0), x.device)
        elif len(state) != len(self.rnns) or state[0][0].size(1) != x.size(0):
            raise ValueError(
                f"state must hold {len(self.rnns)} (h, c) pairs for batch size {x.size(0)}, got {len(state)} "
                f"pairs for batch size {state[0][0].size(1) if state else None}"
            )
        out = self.input_dp(self.embedding(x))
        new_state: LSTMState = []
        last = len(self.rnns) - 1
        for k, (rnn, hidden_dp) in enumerate(zip(self.rnns, self.hidden_dps)):
            out, hc = rnn(out, state[k])
            new_state.append(hc)
            if k != last:
                out = hidden_dp(out)
        if stateful:
            self._state = [(h.detach(), c.detach()) for h, c in new_state]
            return out, self._state
        return out, new_state
