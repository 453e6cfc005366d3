import numpy as np
import pytest
import torch

from ulmfit.data.clas_loader import ClassificationLoader, pad_chunk, restore_order, sortish_order


def test_pad_chunk_facts_example():
    # ULMFIT_FACTS.md d (run): len 3 padded to 12 with seq_len 4 -> 1 1 1 1 1 1 1 1 5 6 7 1
    expected = [1, 1, 1, 1, 1, 1, 1, 1, 5, 6, 7, 1]
    assert pad_chunk([5, 6, 7], pad_len=12, pad_idx=1, bptt=4).tolist() == expected
    assert pad_chunk([5, 6, 7], pad_len=6, bptt=4).tolist() == [5, 6, 7, 1, 1, 1]
    assert pad_chunk([5, 6, 7], pad_len=6, bptt=4, pad_first=False).tolist() == [5, 6, 7, 1, 1, 1]
    with pytest.raises(ValueError, match="pad_len"):
        pad_chunk([5, 6, 7], pad_len=2)


def _docs(lengths, rng=None):
    # token 10+i repeated: every row's content names its dataset index
    return [np.full(n, 10 + i) for i, n in enumerate(lengths)]


def test_batches_padded_as_pad_chunk():
    docs = [np.array([5, 6, 7]), np.arange(20, 32), np.array([9])]
    dl = ClassificationLoader(docs, labels=[0, 1, 2], bs=3, bptt=4)
    (x, y), = list(dl)
    assert x.shape == (3, 12)
    assert dl.order.tolist() == [1, 0, 2]
    assert y.tolist() == [1, 0, 2]
    for row, i in zip(x, dl.order.tolist()):
        assert row.tolist() == pad_chunk(docs[i], pad_len=12, bptt=4).tolist()
    end = ClassificationLoader(docs, bs=3, bptt=4, pad_first=False)
    (x2, y2), = list(end)
    assert x2[1].tolist() == [5, 6, 7] + [1] * 9
    assert y2.tolist() == [0, 0, 0]  # unlabelled: dummy targets


def test_validation_sorted_longest_first():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, size=37)
    dl = ClassificationLoader(_docs(lengths), bs=5)
    served = lengths[dl.order]
    assert (np.diff(served) <= 0).all()
    assert sorted(dl.order.tolist()) == list(range(37))
    assert len(dl) == 8


def test_sortish_batches_sorted_and_longest_first():
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 500, size=1003)
    bs = 4  # chunks of bs*50 = 200 items
    dl = ClassificationLoader(_docs(lengths), labels=np.arange(1003), bs=bs, shuffle=True, seed=5)
    assert sorted(dl.order.tolist()) == list(range(1003))
    assert lengths.argmax() in dl.batches[0]
    for idxs in dl.batches:
        assert (np.diff(lengths[idxs]) <= 0).all()
    for x, y in dl:
        # each row is the document named by its label, padded to the batch's longest
        for row, i in zip(x, y.tolist()):
            assert (row != 1).sum().item() == lengths[i]
    first_order = dl.order.copy()
    dl.set_epoch(1)
    assert not np.array_equal(first_order, dl.order)
    again = ClassificationLoader(_docs(lengths), bs=bs, shuffle=True, seed=5)
    assert np.array_equal(again.order, first_order)


def test_sortish_structure_against_reference():
    """Independent re-derivation of SortedDL's shuffle steps from the facts, using the same draws."""
    lengths = np.random.default_rng(2).integers(1, 100, size=230)
    bs = 2
    got = sortish_order(lengths, bs, np.random.default_rng(7))
    rng = np.random.default_rng(7)
    perm = list(rng.permutation(230))
    m = perm.index(int(np.argmax(lengths)))
    perm[0], perm[m] = perm[m], perm[0]
    sorted_chunks = []
    for c in range(0, 230, 100):
        sorted_chunks += sorted(perm[c:c + 100], key=lambda i: lengths[i], reverse=True)
    batches = [sorted_chunks[i:i + bs] for i in range(0, 230, bs)]
    middle = rng.permutation(len(batches) - 2)
    ref = batches[0] + [t for k in middle for t in batches[1 + k]] + batches[-1]
    assert got.tolist() == ref


def test_drop_last_and_ddp():
    lengths = np.arange(1, 24)  # 23 items
    full = ClassificationLoader(_docs(lengths), bs=5, shuffle=True, drop_last=True)
    assert len(full) == 4 and all(len(b) == 5 for b in full.batches)
    ranks = [ClassificationLoader(_docs(lengths), bs=2, shuffle=True, rank=r, world_size=3) for r in range(3)]
    assert len({len(d) for d in ranks}) == 1  # 12 batches -> 4 per rank
    orders = [set(d.order.tolist()) for d in ranks]
    assert not (orders[0] & orders[1]) and not (orders[1] & orders[2]) and not (orders[0] & orders[2])
    val = [ClassificationLoader(_docs(lengths), bs=2, rank=r, world_size=3) for r in range(3)]
    assert sorted(i for d in val for i in d.order.tolist()) == list(range(23))


def test_restore_order_round_trip():
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 30, size=17)
    dl = ClassificationLoader(_docs(lengths), bs=4, shuffle=True, seed=2)
    outs = [x[:, :1].float() * 0 + torch.tensor([[float(x[r][x[r] != 1][0]) for r in range(len(x))]]).T
            for x, _ in dl]
    restored = restore_order(outs, dl.order)
    assert restored[:, 0].tolist() == [10.0 + i for i in range(17)]
    np_restored = restore_order([o.numpy() for o in outs], dl.order)
    assert np_restored[:, 0].tolist() == [10.0 + i for i in range(17)]
    with pytest.raises(ValueError, match="rows"):
        restore_order(outs[:1], dl.order)


def test_labels_multi_label_and_truncation():
    docs = [np.arange(2, 12), np.arange(2, 5)]
    multi = np.array([[1, 0, 1], [0, 1, 0]])
    dl = ClassificationLoader(docs, labels=multi, bs=2)
    x, y = next(iter(dl))
    assert y.dtype == torch.float32 and y.shape == (2, 3)
    assert dl.multi_label
    last = ClassificationLoader(docs, labels=[0, 1], bs=2, max_len=4)
    x, _ = next(iter(last))
    assert x[0].tolist() == [8, 9, 10, 11]
    first = ClassificationLoader(docs, labels=[0, 1], bs=2, max_len=4, keep="first")
    x, _ = next(iter(first))
    assert x[0].tolist() == [2, 3, 4, 5]


def test_bad_inputs():
    with pytest.raises(ValueError, match="labels"):
        ClassificationLoader([[1, 2], [3]], labels=[0])
    with pytest.raises(ValueError, match="class ids"):
        ClassificationLoader([[1, 2], [3]], labels=["a", "b"])
    with pytest.raises(ValueError, match="keep"):
        ClassificationLoader([[1, 2]], keep="middle")
    with pytest.raises(ValueError, match="max_len"):
        ClassificationLoader([[1, 2]], max_len=0)


# Recorded by running fastai 2.8.12: lens = np.random.RandomState(0).randint(1, 50, 120);
# SortedDL(items, bs=2, shuffle=True, res=list(lens)); np.random.seed(123); list(dl.shuffle_fn(range(120)))
FASTAI_SORTISH_120 = [
    97, 114, 31, 1, 99, 61, 10, 8, 63, 45, 100, 76, 35, 13, 60, 81, 50, 23, 7, 33, 93, 18, 71, 0, 41, 44, 67, 88,
    95, 77, 89, 75, 82, 29, 66, 106, 3, 65, 110, 85, 22, 87, 14, 70, 72, 21, 118, 2, 108, 78, 104, 36, 46, 25, 38,
    37, 57, 17, 109, 73, 9, 54, 116, 79, 43, 6, 49, 80, 90, 30, 47, 96, 105, 74, 111, 107, 56, 69, 64, 53, 101, 52,
    55, 103, 39, 24, 119, 117, 12, 20, 58, 28, 68, 51, 5, 115, 27, 91, 113, 86, 98, 83, 42, 15, 112, 62, 34, 48, 92,
    102, 84, 19, 26, 11, 94, 59, 40, 16, 4, 32,
]


def test_sortish_matches_fastai_with_same_random_stream():
    lengths = np.random.RandomState(0).randint(1, 50, 120)
    assert sortish_order(lengths, 2, np.random.RandomState(123)).tolist() == FASTAI_SORTISH_120
