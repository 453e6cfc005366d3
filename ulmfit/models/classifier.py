"""AWD-LSTM text classifier: chunked sentence encoding, masked concat pooling and fastai's head.

State-dict keys: ``encoder.*`` (exactly the LM encoder's keys, so
``clf.encoder.load_state_dict(lm.encoder.state_dict())`` works) and ``head.layers.{i}.{0,2}.*``
(BatchNorm at 0, Linear at 2 in each block, as in fastai's ``PoolingLinearClassifier``).

Padding is handled per row whatever its side or amount: the pad tokens are squeezed out (the text of each
row is moved to the front, order kept), so the LSTM only ever sees text and starts from a zero state,
and pooling uses only the positions of text. Changing how a batch is padded does not change any row's
output in eval mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ulmfit.models.awd_lstm import AWDLSTM, AWDLSTMConfig
from ulmfit.models.chunked_softmax import linear_cross_entropy

__all__ = [
    "AWDLSTMClassifier",
    "PoolingLinearClassifier",
    "build_classifier",
    "masked_concat_pool",
]


def masked_concat_pool(out: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Concat of [last, max, mean] over the valid positions of each row.

    out: (B, L, E) float, mask: (B, L) bool, True at valid (text) positions; the valid positions of a row
    must be contiguous (anywhere in the row) -> (B, 3E). Rows without any valid position pool to zeros.
    """
    if out.dim() != 3 or mask.shape != out.shape[:2]:
        raise ValueError(f"masked_concat_pool expects out (B, L, E) and mask (B, L), got {tuple(out.shape)} "
                         f"and {tuple(mask.shape)}")
    B, L, _ = out.shape
    n_valid = mask.sum(1)  # (B,)
    positions = torch.arange(L, device=out.device).expand(B, L)
    last_idx = torch.where(mask, positions, torch.full_like(positions, -1)).amax(1).clamp_min(0)  # (B,)
    last = out[torch.arange(B, device=out.device), last_idx] * (n_valid > 0).unsqueeze(1).to(out.dtype)
    m = mask.unsqueeze(-1)
    mx = out.masked_fill(~m, float("-inf")).amax(1)
    mx = torch.where((n_valid > 0).unsqueeze(1), mx, torch.zeros_like(mx))
    mean = out.masked_fill(~m, 0.0).sum(1) / n_valid.clamp_min(1).unsqueeze(1).to(out.dtype)
    return torch.cat([last, mx, mean], 1)


class _SigmoidRange(nn.Module):
    def __init__(self, low: float, high: float):
        super().__init__()
        self.low, self.high = float(low), float(high)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x) * (self.high - self.low) + self.low

    def extra_repr(self) -> str:
        return f"low={self.low}, high={self.high}"


class PoolingLinearClassifier(nn.Module):
    """fastai's head over pooled features: per block BatchNorm1d -> Dropout -> Linear(no bias) -> ReLU
    (no ReLU after the last block); optional sigmoid range. x: (B, dims[0]) -> (B, dims[-1]).

    BatchNorm weights start at 1 and biases at 1e-3, as fastai's ``BatchNorm`` helper.
    """

    def __init__(self, dims: Sequence[int], ps: Sequence[float], y_range: tuple[float, float] | None = None):
        super().__init__()
        if len(ps) != len(dims) - 1:
            raise ValueError(f"ps must give one dropout per Linear layer ({len(dims) - 1}), got {list(ps)}")
        blocks = []
        for i, (n_in, n_out, p) in enumerate(zip(dims[:-1], dims[1:], ps)):
            bn = nn.BatchNorm1d(n_in)
            with torch.no_grad():
                bn.weight.fill_(1.0)
                bn.bias.fill_(1e-3)
            layers: list[nn.Module] = [bn, nn.Dropout(p), nn.Linear(n_in, n_out, bias=False)]
            if i < len(dims) - 2:
                layers.append(nn.ReLU(inplace=True))
            blocks.append(nn.Sequential(*layers))
        self.layers = nn.Sequential(*blocks)
        self.y_range = None if y_range is None else _SigmoidRange(*y_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(x)
        return x if self.y_range is None else self.y_range(x)


class AWDLSTMClassifier(nn.Module):
    """AWD-LSTM encoder + masked concat pooling + linear head.

    forward(x (B, T) int64) -> (logits (B, C), raw (B, L, E), out (B, L, E)); ``raw`` and ``out`` are the
    same tensor: the encoder's last-layer output over the kept window of each row (text moved to the front
    of the window, zeros elsewhere), which AR/TAR use as fastai does. L <= max_len.

    Each batch starts from a zero state; the text is read in ``bptt`` chunks with the state carried and
    detached between chunks (so dropout masks are redrawn per chunk, as fastai). Only the chunks that start
    within the last ``max_len`` tokens of a row are pooled and receive gradients; earlier ones only build
    the state (without a graph).
    """

    def __init__(
        self,
        vocab_size: int,
        n_classes: int,
        cfg: AWDLSTMConfig,
        bptt: int = 72,
        max_len: int = 1440,
        lin_ftrs: Sequence[int] = (50,),
        ps: Sequence[float] = (0.1,),
        y_range: tuple[float, float] | None = None,
    ):
        super().__init__()
        for name, value in (("n_classes", n_classes), ("bptt", bptt), ("max_len", max_len)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if len(ps) != len(lin_ftrs):
            raise ValueError(f"ps must give one dropout per entry of lin_ftrs {list(lin_ftrs)}, got {list(ps)}")
        self.cfg, self.bptt, self.max_len, self.pad_idx = cfg, bptt, max_len, cfg.pad_token
        self.encoder = AWDLSTM(vocab_size, cfg)
        dims = [3 * cfg.emb_sz, *lin_ftrs, n_classes]
        self.head = PoolingLinearClassifier(dims, [cfg.output_p, *ps], y_range)

    def reset(self) -> None:
        """No state survives a batch; kept for the Learner's reset protocol."""
        self.encoder.reset()

    def _text_first(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T) -> (the pads squeezed out of each row: its text first, order kept, pads after (B, T),
        text lengths (B,))."""
        is_text = x != self.pad_idx
        order_in_row = torch.sort((~is_text).to(torch.int8), dim=1, stable=True).indices
        return x.gather(1, order_in_row), is_text.sum(1)

    def _first_pooled(self, n: int) -> int:
        """First pooled position of a row of ``n`` tokens: the first chunk starting within its last max_len."""
        return max(0, -(-(n - self.max_len) // self.bptt) * self.bptt)

    def pooled_ids(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The token ids at the positions of :meth:`encode`'s output. x: (B, T) -> (ids (B, L) int64, pad
        elsewhere; mask (B, L) bool), with the same L and mask as :meth:`encode` gives for ``x``."""
        text_first, lengths = self._text_first(x)
        starts = torch.tensor([self._first_pooled(n) for n in lengths.tolist()], device=x.device)
        n_kept = lengths - starts
        width = max(int(n_kept.max()) if len(n_kept) else 0, 1)
        mask = torch.arange(width, device=x.device).unsqueeze(0) < n_kept.unsqueeze(1)
        cols = (starts.unsqueeze(1) + torch.arange(width, device=x.device)).clamp_max(max(x.size(1) - 1, 0))
        ids = text_first.gather(1, cols) if x.size(1) else x.new_full((x.size(0), width), self.pad_idx)
        return ids.masked_fill(~mask, self.pad_idx), mask

    def next_token_loss(self, x: torch.Tensor, out: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """The language-model objective on the classifier's own encoder output: mean cross entropy of
        predicting each pooled token from the output at the position before it, through the tied decoder
        (the embedding matrix) and the LM's decoder ``bias`` (V,) when given.

        x: (B, T) int64, the classifier's input; out: (B, L, E), :meth:`encode`'s output for ``x`` -> scalar.
        Rows with fewer than two pooled tokens add nothing; with none at all in the batch the loss is 0.
        """
        ids, mask = self.pooled_ids(x)
        pairs = mask[:, :-1] & mask[:, 1:]  # (B, L-1): a token and its successor both pooled
        if not bool(pairs.any()):
            return out.sum() * 0.0
        h = out[:, :-1][pairs]  # (N, E)
        return linear_cross_entropy(h, self.encoder.embedding.weight, bias, ids[:, 1:][pairs])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T) int64 -> (out (B, L, E), mask (B, L) bool, True at pooled text positions)."""
        if x.dim() != 2:
            raise ValueError(f"the classifier expects token ids of shape (B, T), got shape {tuple(x.shape)}")
        B, device = x.size(0), x.device
        text_first, lengths = self._text_first(x)
        # sort rows longest first so that the rows still reading at any chunk are a prefix of the batch
        lengths_sorted, row_order = torch.sort(lengths, descending=True, stable=True)
        xs = text_first[row_order]
        lens = lengths_sorted.tolist()
        starts = [self._first_pooled(n) for n in lens]
        width = max([n - s for n, s in zip(lens, starts)] + [1])  # >= 1 so that empty rows pool to zeros
        emb_sz = self.cfg.emb_sz
        rows_idx, cols_idx, values = [], [], []
        state = None
        for start in range(0, lens[0] if lens else 0, self.bptt):
            real_bs = sum(1 for n in lens if n > start)
            chunk = xs[:real_bs, start : min(start + self.bptt, lens[0])]
            state = self.encoder.init_state(real_bs, device) if state is None else [
                (h[:, :real_bs], c[:, :real_bs]) for h, c in state
            ]
            # rows [first_keep, real_bs) pool this chunk (row starts are non-increasing down the batch)
            first_keep = next((r for r in range(real_bs) if starts[r] <= start), real_bs)
            if first_keep == 0:
                out, state = self.encoder(chunk, state)
            elif first_keep == real_bs:
                with torch.no_grad():
                    out, state = self.encoder(chunk, state)
            else:  # long rows only build state here; short rows are pooled
                with torch.no_grad():
                    _, state_a = self.encoder(chunk[:first_keep], [(h[:, :first_keep], c[:, :first_keep])
                                                                   for h, c in state])
                out, state_b = self.encoder(chunk[first_keep:], [(h[:, first_keep:], c[:, first_keep:])
                                                                 for h, c in state])
                state = [(torch.cat([ha, hb], 1), torch.cat([ca, cb], 1))
                         for (ha, ca), (hb, cb) in zip(state_a, state_b)]
                out = torch.cat([out.new_zeros(first_keep, *out.shape[1:]), out])
            state = [(h.detach(), c.detach()) for h, c in state]
            if first_keep < real_bs:
                rows = torch.arange(first_keep, real_bs, device=device)
                offsets = torch.tensor([start - starts[r] for r in range(first_keep, real_bs)], device=device)
                cols = offsets.unsqueeze(1) + torch.arange(chunk.size(1), device=device)
                rows_idx.append(rows.unsqueeze(1).expand_as(cols))
                cols_idx.append(cols)
                values.append(out[first_keep:])
        dtype = values[0].dtype if values else self.encoder.embedding.weight.dtype
        if values:
            r, c = torch.cat([t.reshape(-1) for t in rows_idx]), torch.cat([t.reshape(-1) for t in cols_idx])
            v = torch.cat([t.reshape(-1, emb_sz) for t in values])
            # chunks may reach past a short row's end (into its pads): keep only its own columns
            keep = c < width
            pooled = torch.zeros(B, width, emb_sz, device=device, dtype=dtype).index_put((r[keep], c[keep]), v[keep])
        else:
            pooled = torch.zeros(B, width, emb_sz, device=device, dtype=dtype)
        n_kept = torch.tensor([n - s for n, s in zip(lens, starts)], device=device, dtype=torch.long)
        mask = torch.arange(width, device=device).unsqueeze(0) < n_kept.unsqueeze(1)
        pooled = pooled * mask.unsqueeze(-1).to(dtype)  # zero whatever a chunk computed over a row's pads
        inverse = torch.empty_like(row_order)
        inverse[row_order] = torch.arange(B, device=device)
        return pooled[inverse], mask[inverse]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out, mask = self.encode(x)
        logits = self.head(masked_concat_pool(out, mask))
        return logits, out, out

    def layer_groups(self) -> list[nn.Module]:
        """fastai's ``awd_lstm_clas_split``: embedding, one group per LSTM layer, head."""
        enc = self.encoder
        groups: list[nn.Module] = [enc.embedding]
        groups += [nn.ModuleList([rnn, dp]) for rnn, dp in zip(enc.rnns, enc.hidden_dps)]
        groups.append(self.head)
        return groups


def build_classifier(
    vocab_size: int,
    n_classes: int,
    cfg: AWDLSTMConfig | None = None,
    drop_mult: float = 1.0,
    bptt: int = 72,
    max_len: int = 1440,
    lin_ftrs: Sequence[int] = (50,),
    ps: Sequence[float] = (0.1,),
    y_range: tuple[float, float] | None = None,
) -> AWDLSTMClassifier:
    """An AWD-LSTM classifier (fastai's ``get_text_classifier``).

    ``cfg`` defaults to the classifier preset; its dropouts are multiplied by ``drop_mult`` (fastai's
    ``text_classifier_learner`` passes 0.5), the head's ``ps`` are not.
    """
    cfg = AWDLSTMConfig.classifier() if cfg is None else cfg
    if not isinstance(cfg, AWDLSTMConfig):
        raise TypeError(f"cfg must be an AWDLSTMConfig or None, got {type(cfg).__name__}")
    return AWDLSTMClassifier(vocab_size, n_classes, cfg.scaled(drop_mult), bptt, max_len, lin_ftrs, ps, y_range)
