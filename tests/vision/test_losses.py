import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vision import LabelSmoothingCrossEntropy


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_label_smoothing_matches_fastai_formula(eps):
    torch.manual_seed(0)
    pred, y = torch.randn(6, 5) * 3, torch.randint(0, 5, (6,))
    logp = F.log_softmax(pred, dim=-1)
    c = pred.shape[-1]
    per_sample = (eps / c) * (-logp.sum(-1)) + (1 - eps) * F.nll_loss(logp, y, reduction="none")
    torch.testing.assert_close(LabelSmoothingCrossEntropy(eps)(pred, y), per_sample.mean())
    torch.testing.assert_close(LabelSmoothingCrossEntropy(eps, reduction="sum")(pred, y), per_sample.sum())
    torch.testing.assert_close(LabelSmoothingCrossEntropy(eps, reduction="none")(pred, y), per_sample)


def test_eps_zero_is_cross_entropy_and_gradients_flow():
    pred = torch.randn(4, 3, requires_grad=True)
    y = torch.tensor([0, 2, 1, 2])
    loss = LabelSmoothingCrossEntropy(0.0)(pred, y)
    torch.testing.assert_close(loss, F.cross_entropy(pred, y))
    loss.backward()
    assert pred.grad is not None


def test_bad_arguments():
    with pytest.raises(ValueError, match="eps"):
        LabelSmoothingCrossEntropy(eps=1.5)
    with pytest.raises(ValueError, match="reduction"):
        LabelSmoothingCrossEntropy(reduction="avg")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_is_torch_cross_entropy_with_label_smoothing(reduction):
    torch.manual_seed(1)
    pred, y, w = torch.randn(7, 4), torch.randint(0, 4, (7,)), torch.rand(4) + 0.5
    for weight in (None, w):
        loss = LabelSmoothingCrossEntropy(0.2, weight=weight, reduction=reduction)
        assert isinstance(loss, nn.CrossEntropyLoss) and loss.label_smoothing == loss.eps == 0.2
        ref = nn.CrossEntropyLoss(weight=weight, reduction=reduction, label_smoothing=0.2)
        torch.testing.assert_close(loss(pred, y), ref(pred, y))
    assert "eps=0.2" in repr(LabelSmoothingCrossEntropy(0.2))
