"""FeatureMixUp: mixup of what one module of the model receives (the text classifier's pooled features)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ulmfit.train import FeatureMixUp, Learner
from ulmfit.train.mixup import mix, mixed_loss, mixup_weights


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body, self.head = nn.Linear(4, 6), nn.Linear(6, 3)

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))


class FakeLearner:
    def __init__(self, loss_func):
        self.loss_func, self.training, self.yb = loss_func, True, None


def test_the_module_input_and_the_loss_are_mixed_in_training_batches_only():
    torch.manual_seed(0)
    net, x, y = Net(), torch.randn(8, 4), torch.randint(0, 3, (8,))
    learn, cb = FakeLearner(F.cross_entropy), FeatureMixUp(net.head, alpha=0.4)
    cb.before_fit(learn)
    cb.before_train(learn)
    learn.yb = y
    torch.manual_seed(5)
    cb.before_batch(learn)
    out = net(x)
    torch.manual_seed(5)
    lam, perm = mixup_weights(8, 0.4)
    with torch.no_grad():   # references: without gradients the hook leaves the head alone
        h = torch.relu(net.body(x))
        expected = net.head(lam.view(8, 1) * h + (1 - lam.view(8, 1)) * h[perm])
        plain = net.head(h)
    torch.testing.assert_close(out, expected)
    assert not torch.allclose(out, plain)
    torch.testing.assert_close(learn.loss_func(out, y), mixed_loss(F.cross_entropy, out, y, y[perm], lam))
    with torch.no_grad():   # prediction inside a training batch: unmixed
        torch.testing.assert_close(net(x), plain)
    cb.after_train(learn)
    assert learn.loss_func is F.cross_entropy
    learn.training = False
    cb.before_batch(learn)  # validation: plain
    torch.testing.assert_close(net(x), plain)
    cb.after_fit(learn)
    learn.training = True
    cb.before_batch(learn)  # after the fit the hook is gone
    torch.testing.assert_close(net(x), plain)


def test_mix_is_lam_x_plus_one_minus_lam_x_perm():
    x, lam, perm = torch.randn(3, 2, 5), torch.tensor([1.0, 0.5, 0.75]), torch.tensor([2, 0, 1])
    expected = torch.stack([x[0], 0.5 * x[1] + 0.5 * x[0], 0.75 * x[2] + 0.25 * x[1]])
    torch.testing.assert_close(mix(x, lam, perm), expected)


def test_a_fit_trains_through_both_members_and_restores_the_model():
    torch.manual_seed(0)
    ds = TensorDataset(torch.randn(32, 4), torch.randint(0, 3, (32,)))
    net = Net()
    losses = []

    def spy(pred, y, **kw):
        losses.append(F.cross_entropy(pred, y, **kw).mean().item())
        return F.cross_entropy(pred, y, **kw)

    learn = Learner(net, DataLoader(ds, batch_size=8), DataLoader(ds, batch_size=8), spy,
                    callbacks=[FeatureMixUp(net.head, 0.4)], progress=False)
    learn.fit(1, 1e-2)
    assert learn.loss_func is spy and not net.head._forward_pre_hooks
    # training steps call the loss twice per batch (y and y[perm]), validation once
    assert len(losses) == 4 * 2 + 4


@pytest.mark.parametrize("alpha", [0, -1, True, "0.4"])
def test_alpha_must_be_a_positive_number(alpha):
    with pytest.raises(ValueError, match="FeatureMixUp alpha"):
        FeatureMixUp(nn.Linear(2, 2), alpha)
