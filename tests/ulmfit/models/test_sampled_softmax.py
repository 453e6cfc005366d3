import pytest
import torch
import torch.nn.functional as F

from ulmfit.models import AWDLSTMConfig, LMLoss, build_language_model
from ulmfit.models.sampled_softmax import sampled_cross_entropy, unigram_proposal


def _inputs(n=40, e=8, v=60, n_targets=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, e, generator=g, requires_grad=True)
    w = torch.randn(v, e, generator=g, requires_grad=True)
    b = torch.randn(v, generator=g, requires_grad=True)
    y = torch.randint(0, n_targets, (n,), generator=g)  # the batch uses only a few words
    return h, w, b, y


def test_exact_when_the_targets_cover_the_vocabulary():
    h, w, b, y = _inputs(v=6)
    torch.testing.assert_close(sampled_cross_entropy(h, w, b, y, torch.ones(6), 10),
                               F.cross_entropy(F.linear(h, w, b), y))


def test_many_draws_estimate_the_full_softmax_and_few_draws_do_not_only_see_targets():
    h, w, b, y = _inputs()
    full = F.cross_entropy(F.linear(h, w, b), y).item()
    targets_only = F.cross_entropy(F.linear(h, w[:6], b[:6]), y).item()
    torch.manual_seed(0)
    estimate = sampled_cross_entropy(h, w, b, y, torch.rand(60) + 0.1, 200_000).item()
    assert abs(estimate - full) < 0.02 * full
    assert abs(targets_only - full) > 0.1 * full  # the sampled tail matters: the test can tell


def test_gradients_reach_only_candidate_rows():
    h, w, b, y = _inputs()
    proposal = torch.zeros(60)
    proposal[10] = 1.0  # the only word that can be drawn
    torch.manual_seed(0)
    loss = sampled_cross_entropy(h, w, b, y, proposal, 4)
    gw, gb = torch.autograd.grad(loss, (w, b))
    touched = set(torch.nonzero(gw.abs().sum(1)).flatten().tolist())
    assert touched == set(y.unique().tolist()) | {10}
    assert set(torch.nonzero(gb).flatten().tolist()) == touched


def test_checks_and_proposal():
    h, w, b, y = _inputs()
    with pytest.raises(ValueError, match="one weight per vocabulary entry"):
        sampled_cross_entropy(h, w, b, y, torch.ones(5), 4)
    assert torch.all(unigram_proposal(torch.tensor([0, 15])) == torch.tensor([1.0, 8.0]))
    lm = build_language_model(20, AWDLSTMConfig(emb_sz=4, n_hid=6, n_layers=1))
    with pytest.raises(ValueError, match="n_samples"):
        LMLoss(lm, n_samples=8)
