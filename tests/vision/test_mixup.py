import pytest
import torch
import torch.nn.functional as F

from vision import LabelSmoothingCrossEntropy, MixUp
from vision.mixup import mixed_loss, mixup_batch


def test_mixup_batch_matches_formula_with_fixed_seed():
    x, y = torch.randn(16, 3, 4, 4), torch.arange(16)
    torch.manual_seed(1)
    xm, ys, lam, perm = mixup_batch(x, y, 0.4)
    # independent reference: redraw with the same seed, as the formula says
    torch.manual_seed(1)
    a = torch.tensor(0.4)
    lam_ref = torch.distributions.Beta(a, a).sample((16,))
    lam_ref = torch.maximum(lam_ref, 1 - lam_ref)
    perm_ref = torch.randperm(16)
    torch.testing.assert_close(lam, lam_ref)
    assert torch.equal(perm, perm_ref) and torch.equal(ys, y[perm_ref])
    expected = lam_ref.view(16, 1, 1, 1) * x + (1 - lam_ref.view(16, 1, 1, 1)) * x[perm_ref]
    torch.testing.assert_close(xm, expected)
    assert (lam >= 0.5).all() and (lam <= 1).all()
    assert not torch.allclose(lam, lam[0].expand(16))  # one lambda per sample


def test_mixup_batch_keeps_half_precision_dtype():
    x = torch.randn(4, 3, 2, 2).to(torch.bfloat16)
    xm, *_ = mixup_batch(x, torch.arange(4), 0.4)
    assert xm.dtype == torch.bfloat16


@pytest.mark.parametrize("loss_func", [F.cross_entropy, LabelSmoothingCrossEntropy(0.1),
                                       LabelSmoothingCrossEntropy(0.1, reduction="sum")])
def test_mixed_loss_formula(loss_func):
    torch.manual_seed(0)
    pred, y = torch.randn(8, 5), torch.randint(0, 5, (8,))
    ys, lam = y.flip(0), torch.rand(8) * 0.5 + 0.5
    eps = getattr(loss_func, "eps", 0.0)
    l1 = F.cross_entropy(pred, y, reduction="none", label_smoothing=eps)
    l2 = F.cross_entropy(pred, ys, reduction="none", label_smoothing=eps)
    per = lam * l1 + (1 - lam) * l2
    expected = per.sum() if getattr(loss_func, "reduction", "mean") == "sum" else per.mean()
    torch.testing.assert_close(mixed_loss(loss_func, pred, y, ys, lam), expected)
    if hasattr(loss_func, "reduction"):
        assert loss_func.reduction in ("mean", "sum")  # restored after the per-sample call


def test_mixed_loss_rejects_loss_without_reduction():
    with pytest.raises(TypeError, match="reduction='none'"):
        mixed_loss(lambda p, t: F.cross_entropy(p, t), torch.randn(2, 3), torch.tensor([0, 1]),
                   torch.tensor([1, 0]), torch.ones(2))


class FakeLearner:
    """The learner attributes MixUp reads and writes (docs/ARCHITECTURE.md, training core contract)."""

    def __init__(self, loss_func):
        self.loss_func = loss_func
        self.training = True
        self.xb = self.yb = None


def test_callback_mixes_training_only_and_restores_loss():
    base = LabelSmoothingCrossEntropy(0.1)
    learn, cb = FakeLearner(base), MixUp(alpha=0.4)
    x, y = torch.randn(8, 3, 4, 4), torch.arange(8)
    cb.before_fit(learn)
    cb.before_train(learn)
    assert learn.loss_func is not base
    learn.xb, learn.yb = x, y
    torch.manual_seed(3)
    cb.before_batch(learn)
    torch.manual_seed(3)
    xm, ys, lam, _ = mixup_batch(x, y, 0.4)
    torch.testing.assert_close(learn.xb, xm)
    pred = torch.randn(8, 8)
    torch.testing.assert_close(learn.loss_func(pred, learn.yb), mixed_loss(base, pred, y, ys, lam))
    cb.after_train(learn)
    assert learn.loss_func is base
    # validation: nothing mixed, plain loss
    learn.training = False
    cb.before_validate(learn)
    learn.xb, learn.yb = x, y
    cb.before_batch(learn)
    assert learn.xb is x and learn.loss_func is base
    cb.after_fit(learn)
    assert learn.loss_func is base


def test_callback_errors():
    with pytest.raises(ValueError, match="alpha"):
        MixUp(alpha=0)
    learn, cb = FakeLearner(F.cross_entropy), MixUp()
    cb.before_train(learn)
    learn.xb, learn.yb = torch.randn(2, 3), torch.rand(2, 3)
    with pytest.raises(TypeError, match="integer class targets"):
        cb.before_batch(learn)


def test_lr_find_sweeps_with_the_mixed_loss_and_restores_it():
    from torch.utils.data import DataLoader, TensorDataset

    from ulmfit.train import Learner, ProgressCallback

    torch.manual_seed(0)
    ds = TensorDataset(torch.randn(64, 3, 4, 4), torch.randint(0, 4, (64,)))
    seen, loss = [], F.cross_entropy
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 4))
    mix = MixUp(0.4)
    mixed = mix._loss

    def spy(pred, y):  # MixUp's loss, counted
        seen.append(mix._batch is not None)  # a mixed batch is behind it
        return mixed(pred, y)

    mix._loss = spy
    learn = Learner(model, DataLoader(ds, batch_size=8), None, loss,
                    callbacks=[mix, ProgressCallback(bars=False)], progress=True)
    result = learn.lr_find(num_it=5)
    assert len(result.lrs) == 5 and seen == [True] * 5  # every sweep step mixed and used the mixed loss
    assert learn.loss_func is loss  # restored afterwards
