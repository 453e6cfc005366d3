import pytest
import torch

from ulmfit.models import LockedDropout, locked_dropout


def test_mask_constant_over_time_and_differs_across_sequences():
    torch.manual_seed(0)
    x = torch.ones(8, 20, 64)
    y = locked_dropout(x, 0.5, training=True)
    # every time step sees the same mask
    assert torch.equal(y, y[:, :1].expand_as(y))
    # the masks of different sequences differ
    assert not torch.equal(y[0, 0], y[1, 0])
    # kept entries are rescaled by 1/(1-p)
    assert set(y.unique().tolist()) <= {0.0, 2.0}
    assert 0.3 < (y[:, 0] == 0).float().mean().item() < 0.7


def test_identity_in_eval_and_for_p0():
    x = torch.randn(2, 3, 4)
    m = LockedDropout(0.5).eval()
    assert torch.equal(m(x), x)
    assert torch.equal(locked_dropout(x, 0.0, training=True), x)


def test_new_mask_each_call():
    torch.manual_seed(0)
    m = LockedDropout(0.5).train()
    x = torch.ones(4, 3, 32)
    assert not torch.equal(m(x), m(x))


def test_bad_p():
    with pytest.raises(ValueError, match="p must be in"):
        LockedDropout(1.0)
