"""Language-model stream loader: documents -> one token stream -> ``bs`` rows -> ``bptt`` windows.

The cut follows fastai 2.8.12's ``LMDataLoader`` exactly (``fastai.text.data.LMDataLoader``):

* the documents are concatenated into one stream of ``L`` tokens;
* ``corpus = round_down(L - 1, bs)``, ``bl = corpus // bs`` (the row length);
* row ``r`` reads stream positions ``r*bl .. (r+1)*bl`` inclusive, so adjacent rows share one token;
* ``n_batches = ceil(bl / bptt)``; every batch is ``bptt`` long except the last (``bl - (n_batches-1)*bptt``);
* batch ``b`` row ``r``: ``x = stream[r*bl + b*bptt : ... + sl]``, ``y`` the same window shifted by one token.

Batches come in order, so row ``r`` of batch ``b+1`` continues row ``r`` of batch ``b`` (the hidden state
carries over). The stream is kept as one compact numpy array (``uint16`` when the vocabulary allows) and each
batch is a slice of a strided ``(rows, bl+1)`` view: there is no per-token Python work after construction.

Distributed data parallel: with ``world_size = W > 1`` the stream is cut as for a single loader of batch size
``bs * W`` and rank ``r`` serves rows ``r*bs .. (r+1)*bs - 1``, i.e. a contiguous ``1/W`` of the corpus.
Every rank has the same number of batches; with ``W = 1`` the result is identical to fastai's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

__all__ = ["LMLoader", "save_stream", "load_stream", "compact_dtype", "resolve_rank"]


def resolve_rank(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """``(rank, world_size)``, defaulting to ``torch.distributed``'s when initialised, else ``(0, 1)``."""
    if rank is None or world_size is None:
        initialised = torch.distributed.is_available() and torch.distributed.is_initialized()
        if rank is None:
            rank = torch.distributed.get_rank() if initialised else 0
        if world_size is None:
            world_size = torch.distributed.get_world_size() if initialised else 1
    if not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be an int >= 1, got {world_size!r}")
    if not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ValueError(f"rank must be an int in [0, world_size={world_size}), got {rank!r}")
    return rank, world_size


def compact_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype able to hold ids ``0 .. vocab_size-1`` (uint16 up to 65536 tokens)."""
    if vocab_size <= 2**16:
        return np.dtype(np.uint16)
    if vocab_size <= 2**32:
        return np.dtype(np.uint32)
    return np.dtype(np.int64)


def _as_doc_array(doc, i: int) -> np.ndarray:
    arr = np.asarray(doc)
    if arr.ndim != 1:
        raise ValueError(f"docs[{i}] must be a 1-D sequence of token ids, got an array of shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"docs[{i}] must hold integer token ids, got dtype {arr.dtype}")
    return arr


def _concat_docs(docs: Sequence, vocab_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """docs -> (stream (L,) compact ints, lengths (n_docs,) int64)."""
    arrays = [_as_doc_array(d, i) for i, d in enumerate(docs)]
    lengths = np.array([a.size for a in arrays], dtype=np.int64)
    nonempty = [a for a in arrays if a.size]
    if not nonempty:
        return np.zeros(0, dtype=np.uint16), lengths
    mins = min(int(a.min()) for a in nonempty)
    maxs = max(int(a.max()) for a in nonempty)
    if mins < 0:
        raise ValueError(f"docs must hold non-negative token ids, found {mins}")
    if vocab_size is not None and maxs >= vocab_size:
        raise ValueError(f"docs hold token id {maxs}, which is out of range for vocab_size={vocab_size}")
    dtype = compact_dtype(vocab_size if vocab_size is not None else maxs + 1)
    stream = np.concatenate([a.astype(dtype, copy=False) for a in nonempty])
    return stream, lengths


def _flip_docs(stream: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Reverse every document in place of order (as fastai's ``reverse_text`` does per item)."""
    out = np.empty_like(stream)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    for s, e in zip(starts.tolist(), ends.tolist()):
        out[s:e] = stream[s:e][::-1]
    return out


def save_stream(docs: Sequence, path: str | Path, vocab_size: int | None = None) -> tuple[Path, Path]:
    """Write ``docs`` as ``<path>.npy`` (compact token stream) and ``<path>.lengths.npy`` (document lengths).

    Load them back with :func:`load_stream` (memory-mapped) and pass ``LMLoader(stream, lengths=lengths)``.
    """
    path = Path(path)
    stream, lengths = _concat_docs(docs, vocab_size)
    base = path.with_suffix("") if path.suffix == ".npy" else path
    stream_path = base.parent / (base.name + ".npy")
    lengths_path = base.parent / (base.name + ".lengths.npy")
    stream_path.parent.mkdir(parents=True, exist_ok=True)
    np.save(stream_path, stream)
    np.save(lengths_path, lengths)
    return stream_path, lengths_path


def load_stream(path: str | Path, mmap: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Read :func:`save_stream` files: ``(stream (L,), lengths (n_docs,))``, memory-mapped by default."""
    path = Path(path)
    base = path.with_suffix("") if path.suffix == ".npy" else path
    stream_path = base.parent / (base.name + ".npy")
    lengths_path = base.parent / (base.name + ".lengths.npy")
    for p in (stream_path, lengths_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"token stream file {p} not found (written by save_stream({str(base)!r}, ...))"
            )
    stream = np.load(stream_path, mmap_mode="r" if mmap else None, allow_pickle=False)
    lengths = np.load(lengths_path, allow_pickle=False)
    return stream, lengths


class LMLoader:
    """Batches of contiguous token windows for language-model training, cut exactly as fastai.

    Args:
        docs: a sequence of 1-D integer arrays/lists (one per document, each usually starting with xxbos),
            or one pre-concatenated 1-D integer array (e.g. a memory map from :func:`load_stream`) together
            with ``lengths``.
        bs: rows per batch (per rank under DDP).
        bptt: window length (fastai's ``seq_len``).
        shuffle: shuffle the document order every epoch (from ``seed`` and the epoch given to ``set_epoch``).
        backwards: reverse every document (document order kept), for a backwards language model.
        seed: base seed for shuffling and random window lengths.
        random_bptt: AWD-LSTM variable windows: each window is ``bptt`` with probability 0.95, else
            ``bptt/2``, then drawn from ``N(that, 5)`` and floored at 5 tokens; seeded from ``seed`` and
            the epoch. Off by default (fastai v2 removed it).
        rank, world_size: DDP position; default from ``torch.distributed`` when initialised.
        vocab_size: checks ids and picks the storage dtype (uint16 when ``vocab_size <= 65536``).
        lengths: document lengths when ``docs`` is one concatenated stream.

    Yields ``(x, y)``: ``x, y: (bs, sl) int64`` with ``y[:, t] == x[:, t+1]`` (within the stream).
    ``len(loader)`` is the number of batches in the current epoch.
    """

    def __init__(
        self,
        docs: Sequence | np.ndarray,
        bs: int = 64,
        bptt: int = 72,
        shuffle: bool = False,
        backwards: bool = False,
        seed: int = 0,
        random_bptt: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
        vocab_size: int | None = None,
        lengths: Sequence[int] | np.ndarray | None = None,
    ):
        if not isinstance(bs, int) or bs < 1:
            raise ValueError(f"bs must be an int >= 1, got {bs!r}")
        if not isinstance(bptt, int) or bptt < 1:
            raise ValueError(f"bptt must be an int >= 1, got {bptt!r}")
        self.bs, self.bptt = bs, bptt
        self.shuffle, self.backwards, self.seed = bool(shuffle), bool(backwards), int(seed)
        self.random_bptt = bool(random_bptt)
        self.rank, self.world_size = resolve_rank(rank, world_size)
        self.epoch = 0

        if isinstance(docs, np.ndarray) and docs.ndim == 1 and (docs.size == 0 or docs.dtype != object):
            # One pre-concatenated stream (possibly a memory map): used as is, without a copy.
            if docs.size and not np.issubdtype(docs.dtype, np.integer):
                raise ValueError(f"docs must hold integer token ids, got a stream of dtype {docs.dtype}")
            stream = docs
            if lengths is None:
                lengths = np.array([stream.size], dtype=np.int64)
            lengths = np.asarray(lengths, dtype=np.int64)
            if lengths.ndim != 1 or (lengths < 0).any() or int(lengths.sum()) != stream.size:
                raise ValueError(
                    "lengths must be non-negative document lengths summing to the stream length "
                    f"{stream.size}, "
                    f"got {lengths.size} lengths summing to {int(lengths.sum())}"
                )
            if vocab_size is not None and stream.size and int(stream.max()) >= vocab_size:
                raise ValueError(
                    f"docs hold token id {int(stream.max())}, out of range for vocab_size={vocab_size}"
                )
        else:
            if lengths is not None:
                raise ValueError("lengths is only accepted when docs is one concatenated 1-D stream array")
            stream, lengths = _concat_docs(docs, vocab_size)
        if self.backwards:
            stream = _flip_docs(stream, lengths)
        self._stream, self.lengths = stream, lengths

        n_rows = bs * self.world_size
        total = int(lengths.sum())
        # "-1" keeps room for the final target; the last (L-1) % n_rows tokens are never read.
        corpus = ((total - 1) // n_rows) * n_rows if total > 0 else 0
        self.bl = corpus // n_rows  # row length (fastai's ``bl``)
        if self.bl < 1:
            rows = f"{n_rows} rows (bs {bs} x {self.world_size} processes)" if self.world_size > 1 else f"bs {bs}"
            raise ValueError(f"the corpus has {total} tokens, too few for {rows}: it needs at least {n_rows + 1}; "
                             "give more text or a smaller bs")
        self._windows = self._make_windows(0)

    # ------------------------------------------------------------------ epochs and window lengths
    def set_epoch(self, epoch: int) -> None:
        """Select the epoch; shuffling and random window lengths derive from ``(seed, epoch)``."""
        self.epoch = int(epoch)
        self._windows = self._make_windows(self.epoch)

    def _make_windows(self, epoch: int) -> list[tuple[int, int]]:
        """[(start, length)] of each batch within a row."""
        if not self.random_bptt:
            n = math.ceil(self.bl / self.bptt)
            return [(b * self.bptt, min(self.bptt, self.bl - b * self.bptt)) for b in range(n)]
        rng = np.random.default_rng([self.seed, epoch, 1])
        out, pos = [], 0
        while pos < self.bl:
            base = self.bptt if rng.random() < 0.95 else self.bptt / 2
            sl = max(5, int(rng.normal(base, 5)))
            sl = min(sl, self.bl - pos)
            out.append((pos, sl))
            pos += sl
        return out

    @property
    def n_batches(self) -> int:
        return len(self._windows)

    def __len__(self) -> int:
        return len(self._windows)

    def _epoch_stream(self) -> np.ndarray:
        if not self.shuffle or self.lengths.size < 2:
            return self._stream
        rng = np.random.default_rng([self.seed, self.epoch, 0])
        perm = rng.permutation(self.lengths.size)
        ends = np.cumsum(self.lengths)
        starts = ends - self.lengths
        return np.concatenate([self._stream[starts[i]:ends[i]] for i in perm.tolist()])

    def _rows(self, stream: np.ndarray) -> np.ndarray:
        """This rank's rows as a strided view: (bs, bl + 1); adjacent rows share one token."""
        step = stream.strides[0]
        first = self.rank * self.bs * self.bl
        base = stream[first:]
        return np.lib.stride_tricks.as_strided(
            base, shape=(self.bs, self.bl + 1), strides=(self.bl * step, step), writeable=False
        )

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        rows = self._rows(np.ascontiguousarray(self._epoch_stream()))
        for start, sl in self._windows:
            chunk = torch.from_numpy(rows[:, start:start + sl + 1].astype(np.int64))  # (bs, sl + 1)
            yield chunk[:, :-1].contiguous(), chunk[:, 1:].contiguous()

    def __repr__(self) -> str:
        return (
            f"LMLoader(tokens={int(self.lengths.sum())}, docs={self.lengths.size}, bs={self.bs}, "
            f"bptt={self.bptt}, "
            f"bl={self.bl}, n_batches={len(self)}, shuffle={self.shuffle}, backwards={self.backwards}, "
            f"rank={self.rank}/{self.world_size})"
        )
