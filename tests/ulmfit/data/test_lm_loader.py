import math

import numpy as np
import pytest
import torch

from ulmfit.data.lm_loader import LMLoader, load_stream, save_stream


def _docs(lens, start=0):
    """Documents of consecutive ids so every token is identifiable: doc lens (7,5,...) -> 0..6, 7..11, ..."""
    out, pos = [], start
    for n in lens:
        out.append(list(range(pos, pos + n)))
        pos += n
    return out


def _naive_batches(stream, bs, bptt):
    """Independent reference written from ULMFIT_FACTS.md section c, one token at a time."""
    L = len(stream)
    corpus = ((L - 1) // bs) * bs
    bl = corpus // bs
    n_batches = math.ceil(bl / bptt)
    out = []
    for b in range(n_batches):
        sl = bptt if b < n_batches - 1 else bl - (n_batches - 1) * bptt
        x = [[stream[r * bl + b * bptt + t] for t in range(sl)] for r in range(bs)]
        y = [[stream[r * bl + b * bptt + t + 1] for t in range(sl)] for r in range(bs)]
        out.append((x, y))
    return out


def test_facts_worked_example():
    # 5 docs of length 7,5,9,4,6 -> L=31, bs=2, seq_len=4: bl=15, 4 batches, last length 3,
    # row 0 covers tokens 0-15 and row 1 covers tokens 15-30.
    dl = LMLoader(_docs([7, 5, 9, 4, 6]), bs=2, bptt=4)
    assert dl.bl == 15
    assert len(dl) == 4
    batches = list(dl)
    assert [x.shape[1] for x, _ in batches] == [4, 4, 4, 3]
    xs = torch.cat([x for x, _ in batches], dim=1)
    ys = torch.cat([y for _, y in batches], dim=1)
    row_tokens = [torch.cat([xs[r], ys[r, -1:]]).tolist() for r in range(2)]
    assert row_tokens[0] == list(range(0, 16))
    assert row_tokens[1] == list(range(15, 31))
    for x, y in batches:
        assert x.dtype == torch.int64 and y.dtype == torch.int64
        assert x.shape == y.shape


@pytest.mark.parametrize(
    "lens,bs,bptt", [([7, 5, 9, 4, 6], 2, 4), ([50, 3, 17, 80, 1, 9], 3, 7), ([200], 4, 72)]
)
def test_matches_naive_reference(lens, bs, bptt):
    docs = _docs(lens)
    stream = [t for d in docs for t in d]
    ref = _naive_batches(stream, bs, bptt)
    got = list(LMLoader(docs, bs=bs, bptt=bptt))
    assert len(got) == len(ref)
    for (x, y), (rx, ry) in zip(got, ref):
        assert x.tolist() == rx and y.tolist() == ry


def test_targets_shifted_and_state_continuity():
    dl = LMLoader(_docs([30, 41, 29]), bs=3, bptt=5)
    batches = list(dl)
    for x, y in batches:
        assert torch.equal(x[:, 1:], y[:, :-1])
    for (_, y0), (x1, _) in zip(batches, batches[1:]):
        # row r of batch b+1 starts where row r of batch b ended
        assert torch.equal(x1[:, 0], y0[:, -1])


def test_backwards_flips_each_document_keeping_order():
    docs = _docs([4, 3, 5])
    dl = LMLoader(docs, bs=1, bptt=100, backwards=True)
    (x, y), = list(dl)
    expected = [t for d in docs for t in reversed(d)]
    assert torch.cat([x[0], y[0, -1:]]).tolist() == expected


def test_shuffle_changes_per_epoch_and_is_reproducible():
    docs = _docs([5] * 40)

    def epoch_tokens(dl, epoch):
        dl.set_epoch(epoch)
        return torch.cat([x for x, _ in dl], dim=1)

    a = LMLoader(docs, bs=4, bptt=6, shuffle=True, seed=1)
    b = LMLoader(docs, bs=4, bptt=6, shuffle=True, seed=1)
    e0, e1 = epoch_tokens(a, 0), epoch_tokens(a, 1)
    assert not torch.equal(e0, e1)
    assert torch.equal(epoch_tokens(b, 1), e1)
    assert torch.equal(epoch_tokens(b, 0), e0)
    # documents stay whole: with one row, the epoch's stream is the documents in a new order, each intact
    one = LMLoader(docs, bs=1, bptt=1000, shuffle=True, seed=1)
    (x, y), = list(one)
    stream = torch.cat([x[0], y[0, -1:]]).tolist()
    runs = [stream[i:i + 5] for i in range(0, len(stream), 5)]
    assert sorted(runs) == sorted(docs) and runs != docs
    unshuffled = torch.cat([x for x, _ in LMLoader(docs, bs=4, bptt=6)], dim=1)
    assert not torch.equal(e0, unshuffled)


def test_ddp_ranks_disjoint_and_equal_length():
    docs = _docs([13, 7, 22, 9, 31, 4, 17])
    world = 3
    loaders = [LMLoader(docs, bs=2, bptt=5, rank=r, world_size=world) for r in range(world)]
    assert len({len(dl) for dl in loaders}) == 1
    seen = []
    for dl in loaders:
        xs = torch.cat([x for x, _ in dl], dim=1)
        assert xs.shape[0] == 2
        seen.append(set(xs.flatten().tolist()))
    for i in range(world):
        for j in range(i + 1, world):
            assert not (seen[i] & seen[j])
    # together the ranks serve exactly the rows of one loader with bs * world rows
    single = torch.cat([x for x, _ in LMLoader(docs, bs=2 * world, bptt=5)], dim=1)
    stacked = torch.cat([torch.cat([x for x, _ in dl], dim=1) for dl in loaders], dim=0)
    assert torch.equal(single, stacked)


def test_random_bptt_seeded_and_covers_rows():
    docs = _docs([400, 350, 500])
    dl = LMLoader(docs, bs=2, bptt=20, random_bptt=True, seed=3)
    lens0 = [x.shape[1] for x, _ in dl]
    assert len(lens0) == len(dl)
    assert sum(lens0) == dl.bl
    assert len(set(lens0)) > 1
    dl2 = LMLoader(docs, bs=2, bptt=20, random_bptt=True, seed=3)
    assert [x.shape[1] for x, _ in dl2] == lens0
    dl2.set_epoch(1)
    assert [x.shape[1] for x, _ in dl2] != lens0


def test_compact_storage_and_memmap(tmp_path):
    docs = [np.array([2, 40000, 5]), np.array([2, 7, 8, 9]), np.array([2, 65535])]
    dl = LMLoader(docs, bs=1, bptt=3)
    assert dl._stream.dtype == np.uint16
    big = LMLoader([np.array([2, 70000, 5])], bs=1, bptt=3)
    assert big._stream.dtype == np.uint32
    assert LMLoader(docs, bs=1, bptt=3, vocab_size=65536)._stream.dtype == np.uint16

    stream_path, _ = save_stream(docs, tmp_path / "corpus")
    stream, lengths = load_stream(tmp_path / "corpus")
    assert isinstance(stream, np.memmap)
    mm = LMLoader(stream, lengths=lengths, bs=1, bptt=3, shuffle=True, backwards=True)
    ref = LMLoader(docs, bs=1, bptt=3, shuffle=True, backwards=True)
    for (x1, y1), (x2, y2) in zip(mm, ref):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_bad_inputs():
    with pytest.raises(ValueError, match="bs"):
        LMLoader(_docs([10]), bs=0)
    with pytest.raises(ValueError, match=r"has 3 tokens, too few for bs 4: it needs at least 5; give more text"):
        LMLoader(_docs([3]), bs=4)
    with pytest.raises(ValueError, match=r"too few for 8 rows \(bs 4 x 2 processes\): it needs at least 9"):
        LMLoader(_docs([6]), bs=4, rank=0, world_size=2)
    with pytest.raises(ValueError, match="vocab_size"):
        LMLoader([[1, 2, 99]], bs=1, vocab_size=50)
    with pytest.raises(ValueError, match="rank"):
        LMLoader(_docs([10]), bs=1, rank=2, world_size=2)
    with pytest.raises(ValueError, match="integer"):
        LMLoader([[0.5, 1.5, 2.0]], bs=1)
