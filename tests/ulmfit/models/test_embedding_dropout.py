import pytest
import torch

from ulmfit.models import DropoutEmbedding, embedding_dropout


def test_whole_words_dropped_consistently_and_rescaled():
    torch.manual_seed(0)
    emb = DropoutEmbedding(50, 16, padding_idx=1, p=0.5).train()
    words = torch.arange(50).repeat(3, 2)  # (3, 100): every word several times, in several rows
    out = emb(words)
    ref = emb.weight[words]
    dropped = (out == 0).all(-1)  # (3, 100)
    assert 0 < dropped.float().mean() < 1
    for w in range(50):
        flags = dropped[words == w]
        # a word is dropped everywhere in the batch or nowhere
        assert flags.all() or not flags.any()
    kept = ~dropped
    torch.testing.assert_close(out[kept], ref[kept] * 2.0)


def test_matches_full_matrix_mask_semantics():
    # Dropping the looked-up rows == scaling the whole (V, E) matrix by a (V, 1) mask, gradients included.
    torch.manual_seed(1)
    weight = torch.randn(30, 5, requires_grad=True)
    words = torch.randint(0, 30, (4, 9))
    torch.manual_seed(2)
    out = embedding_dropout(weight, words, 0.3, training=True)
    torch.manual_seed(2)
    mask = weight.new_empty(30).bernoulli_(0.7).div_(0.7)
    ref = (weight * mask[:, None])[words]
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(out)
    (gw,) = torch.autograd.grad((out * g).sum(), weight)
    (gr,) = torch.autograd.grad((ref * g).sum(), weight)
    torch.testing.assert_close(gw, gr)


def test_eval_is_plain_lookup_and_init_range():
    emb = DropoutEmbedding(20, 4, padding_idx=1, p=0.9).eval()
    words = torch.randint(0, 20, (2, 6))
    assert torch.equal(emb(words), emb.weight[words])
    assert emb.weight.abs().max() <= 0.1
    assert emb.weight[1].abs().sum() > 0  # pad row is random (as fastai), but gets no gradient
    emb.train()
    emb.p = 0.0
    emb(torch.tensor([[1, 1, 2]])).sum().backward()
    assert emb.weight.grad[1].abs().sum() == 0 and emb.weight.grad[2].abs().sum() > 0


def test_bad_p():
    with pytest.raises(ValueError, match="p must be in"):
        DropoutEmbedding(5, 2, p=-0.1)
