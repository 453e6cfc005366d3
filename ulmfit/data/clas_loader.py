"""Classification loader: sortish batching and chunk padding, exactly as fastai's SortedDL + Pad_Chunk.

Ordering (as fastai 2.8.12's ``SortedDL``):

* unshuffled (validation, prediction): all items sorted by length, longest first (ties keep dataset order);
* shuffled ("sortish", training): a random permutation with the longest item swapped to the front, cut
  into chunks of ``bs*50`` each sorted longest first, cut into batches of ``bs``; the first batch (holding
  the longest item, so out-of-memory shows at once) and the last batch stay in place and the batches in
  between are shuffled.
  The randomness derives from ``(seed, epoch)`` (see ``set_epoch``), so a resumed run sees the same batches.

Every batch is therefore sorted longest first, which the classifier's sentence encoder relies on.

Padding (``pad_first=True``, fastai's ``pad_chunk``): an item of length ``n`` in a batch whose longest
item has ``M`` tokens gets ``((M-n)//bptt)*bptt`` pads in front (whole ``bptt`` chunks) and ``(M-n)%bptt``
at the end, so every text starts on a ``bptt`` boundary. ``pad_first=False`` pads at the end only.

Truncation: none by default (as fastai). ``max_len=N`` keeps the LAST ``N`` tokens of longer documents
(``keep="last"``, the part fastai's encoder pools over) or the first ``N`` (``keep="first"``).

Distributed data parallel: every rank builds the same batch list and rank ``r`` serves batches ``r::W``. When
shuffling, the list is first cut to a multiple of ``W`` so that all ranks step together; unshuffled loaders
keep every batch, so ranks may differ by one batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from ulmfit.data.lm_loader import compact_dtype, resolve_rank

__all__ = ["ClassificationLoader", "pad_chunk", "sortish_order", "restore_order"]


def pad_chunk(
    x: Sequence[int] | np.ndarray | torch.Tensor,
    pad_len: int,
    pad_idx: int = 1,
    bptt: int = 72,
    pad_first: bool = True,
) -> torch.Tensor:
    """Pad one item ``x: (n,)`` to ``(pad_len,)`` as fastai's ``pad_chunk``.

    ``pad_first``: whole ``bptt`` chunks of pads in front, the remainder at the end; else all pads at the end.
    """
    x = torch.as_tensor(np.asarray(x, dtype=np.int64))
    n = x.shape[0]
    if pad_len < n:
        raise ValueError(f"pad_len must be >= the item length {n}, got {pad_len}")
    out = torch.full((pad_len,), pad_idx, dtype=torch.int64)
    start = ((pad_len - n) // bptt) * bptt if pad_first else 0
    out[start:start + n] = x
    return out


def sortish_order(lengths: np.ndarray, bs: int, rng: np.random.Generator | np.random.RandomState) -> np.ndarray:
    """fastai's ``SortedDL`` shuffle: ``lengths (N,) -> dataset indices (N,)`` in served order.

    ``rng`` needs only ``permutation``; given ``np.random.RandomState(s)`` the result equals fastai's after
    ``np.random.seed(s)`` (two draws: the item permutation, then the permutation of the middle batches).
    """
    lengths = np.asarray(lengths)
    n = lengths.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    idxs = rng.permutation(n)
    pos = int(np.flatnonzero(idxs == int(np.argmax(lengths)))[0])
    idxs[0], idxs[pos] = idxs[pos], idxs[0]
    sz = bs * 50
    chunks = [idxs[i:i + sz] for i in range(0, n, sz)]
    sort_idx = np.concatenate([c[np.argsort(-lengths[c], kind="stable")] for c in chunks])
    batches = [sort_idx[i:i + bs] for i in range(0, n, bs)]
    if len(batches) <= 2:
        return sort_idx.astype(np.int64)
    middle = [batches[i] for i in (rng.permutation(len(batches) - 2) + 1).tolist()]
    return np.concatenate([batches[0], *middle, batches[-1]]).astype(np.int64)


def restore_order(
    batched_outputs: Sequence[torch.Tensor | np.ndarray] | torch.Tensor | np.ndarray,
    order: Sequence[int] | np.ndarray | torch.Tensor,
) -> torch.Tensor | np.ndarray:
    """Put outputs computed in served order back into dataset order.

    ``batched_outputs``: a list of per-batch outputs ``(B_i, ...)`` (or one ``(N, ...)`` array/tensor) in
    the order the loader served them; ``order: (N,)`` the loader's ``.order``. Returns ``(N, ...)`` with
    row ``i`` belonging to dataset item ``i``. ``order`` must be a permutation of ``0..N-1``.
    """
    order_np = np.asarray(order.cpu() if isinstance(order, torch.Tensor) else order, dtype=np.int64)
    if isinstance(batched_outputs, (list, tuple)):
        if not batched_outputs:
            raise ValueError("batched_outputs is empty")
        if isinstance(batched_outputs[0], torch.Tensor):
            out = torch.cat(list(batched_outputs))
        else:
            out = np.concatenate([np.asarray(b) for b in batched_outputs])
    else:
        out = batched_outputs
    n = order_np.size
    if out.shape[0] != n:
        raise ValueError(f"batched_outputs hold {out.shape[0]} rows but order has {n} indices")
    if not np.array_equal(np.sort(order_np), np.arange(n)):
        raise ValueError(
            "order must be a permutation of 0..N-1 (a loader with drop_last=True or a DDP shard does "
            "not serve every item; use shuffle=False, drop_last=False, world_size=1 for predictions)"
        )
    inverse = np.empty(n, dtype=np.int64)
    inverse[order_np] = np.arange(n)
    if isinstance(out, torch.Tensor):
        return out[torch.from_numpy(inverse).to(out.device)]
    return out[inverse]


class ClassificationLoader:
    """Padded, length-sorted batches of documents for text classification.

    Args:
        docs: a sequence of 1-D integer arrays/lists, one per document.
        labels: None (unlabelled: ``y`` is a dummy zeros tensor), ``N`` class ids (``y: (B,) int64``) or an
            ``(N, C)`` multi-hot array (``y: (B, C) float32``).
        bs: items per batch. shuffle: sortish order (training) instead of sorted-by-length.
        pad_idx: padding id (xxpad = 1). bptt: chunk size for ``pad_first`` padding.
        pad_first: fastai's chunk padding (see module docstring); False pads at the end.
        max_len: truncate longer documents to this many tokens (None: no truncation, as fastai).
        keep: ``"last"`` (default) or ``"first"``: which ``max_len`` tokens to keep.
        seed: base seed of the sortish shuffle (combined with the epoch from ``set_epoch``).
        drop_last: drop the final batch when it holds fewer than ``bs`` items.
        rank, world_size: DDP position; default from ``torch.distributed`` when initialised.

    Yields ``(x: (B, T) int64, y)``. ``.order``: dataset indices (this rank, this epoch) in served order;
    ``.batches``: the same cut per batch.
    """

    def __init__(
        self,
        docs: Sequence,
        labels: Sequence | np.ndarray | None = None,
        bs: int = 64,
        shuffle: bool = False,
        pad_idx: int = 1,
        bptt: int = 72,
        pad_first: bool = True,
        max_len: int | None = None,
        seed: int = 0,
        drop_last: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
        keep: str = "last",
    ):
        if not isinstance(bs, int) or bs < 1:
            raise ValueError(f"bs must be an int >= 1, got {bs!r}")
        if not isinstance(bptt, int) or bptt < 1:
            raise ValueError(f"bptt must be an int >= 1, got {bptt!r}")
        if max_len is not None and (not isinstance(max_len, int) or max_len < 1):
            raise ValueError(f"max_len must be None or an int >= 1, got {max_len!r}")
        if keep not in ("last", "first"):
            raise ValueError(f"keep must be 'last' or 'first', got {keep!r}")
        self.bs, self.shuffle, self.pad_idx, self.bptt = bs, bool(shuffle), int(pad_idx), bptt
        self.pad_first, self.max_len, self.keep = bool(pad_first), max_len, keep
        self.seed, self.drop_last = int(seed), bool(drop_last)
        self.rank, self.world_size = resolve_rank(rank, world_size)
        self.epoch = 0

        arrays = []
        for i, d in enumerate(docs):
            a = np.asarray(d)
            if a.ndim != 1:
                raise ValueError(f"docs[{i}] must be a 1-D sequence of token ids, got shape {a.shape}")
            if a.size and not np.issubdtype(a.dtype, np.integer):
                raise ValueError(f"docs[{i}] must hold integer token ids, got dtype {a.dtype}")
            if max_len is not None and a.size > max_len:
                a = a[-max_len:] if keep == "last" else a[:max_len]
            arrays.append(a)
        self.lengths = np.array([a.size for a in arrays], dtype=np.int64)  # (N,) token counts (the sort key)
        nonempty = [a for a in arrays if a.size]
        if nonempty and min(int(a.min()) for a in nonempty) < 0:
            raise ValueError("docs must hold non-negative token ids")
        max_id = max((int(a.max()) for a in nonempty), default=0)
        dtype = compact_dtype(max(max_id, self.pad_idx) + 1)
        self._flat = np.concatenate([a.astype(dtype) for a in nonempty]) if nonempty else np.zeros(0, dtype)
        self._ends = np.cumsum(self.lengths)
        self._starts = self._ends - self.lengths

        self.labels = self._check_labels(labels, len(arrays))
        self._make_batches()

    @staticmethod
    def _check_labels(labels, n: int) -> torch.Tensor | None:
        if labels is None:
            return None
        arr = np.asarray(labels)
        if arr.shape[:1] != (n,):
            raise ValueError(f"labels must have one entry per document ({n}), got shape {arr.shape}")
        if arr.ndim == 1:
            if arr.size and not np.issubdtype(arr.dtype, np.integer):
                raise ValueError(
                    f"labels must be integer class ids (map label names to ids first), got dtype {arr.dtype}"
                )
            return torch.as_tensor(arr.astype(np.int64))
        if arr.ndim == 2:
            return torch.as_tensor(arr.astype(np.float32))
        raise ValueError(f"labels must be (N,) class ids or an (N, C) multi-hot array, got shape {arr.shape}")

    @property
    def multi_label(self) -> bool:
        return self.labels is not None and self.labels.ndim == 2

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch; the sortish shuffle derives from ``(seed, epoch)``."""
        self.epoch = int(epoch)
        self._make_batches()

    def _make_batches(self) -> None:
        n = self.lengths.size
        if self.shuffle:
            order = sortish_order(self.lengths, self.bs, np.random.default_rng([self.seed, self.epoch]))
        else:
            order = np.argsort(-self.lengths, kind="stable").astype(np.int64)
        batches = [order[i:i + self.bs] for i in range(0, n, self.bs)]
        if self.drop_last and batches and len(batches[-1]) < self.bs:
            batches = batches[:-1]
        if self.world_size > 1:
            if self.shuffle:
                batches = batches[: (len(batches) // self.world_size) * self.world_size]
            batches = batches[self.rank::self.world_size]
        self.batches: list[np.ndarray] = batches

    @property
    def order(self) -> np.ndarray:
        """(n_served,) int64 dataset indices in the order this loader serves them this epoch."""
        if not self.batches:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate(self.batches)

    def __len__(self) -> int:
        return len(self.batches)

    def collate(self, idxs: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Dataset indices (B,) -> ``(x (B, T) int64, y)`` padded as configured."""
        lens = self.lengths[idxs]
        width = max(int(lens.max()), 1) if lens.size else 1
        x = np.full((len(idxs), width), self.pad_idx, dtype=np.int64)
        for row, (i, n) in enumerate(zip(idxs.tolist(), lens.tolist())):
            start = ((width - n) // self.bptt) * self.bptt if self.pad_first else 0
            x[row, start:start + n] = self._flat[self._starts[i]:self._ends[i]]
        if self.labels is None:
            y = torch.zeros(len(idxs), dtype=torch.int64)
        else:
            y = self.labels[torch.from_numpy(idxs)]
        return torch.from_numpy(x), y

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for idxs in self.batches:
            yield self.collate(idxs)

    def __repr__(self) -> str:
        return (
            f"ClassificationLoader(items={self.lengths.size}, bs={self.bs}, n_batches={len(self)}, "
            f"shuffle={self.shuffle}, pad_first={self.pad_first}, bptt={self.bptt}, "
            f"rank={self.rank}/{self.world_size})"
        )
