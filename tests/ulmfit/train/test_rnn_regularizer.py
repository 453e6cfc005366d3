from types import SimpleNamespace

import pytest
import torch

from ulmfit.models import AWDLSTMConfig, build_language_model, lm_loss
from ulmfit.train import RNNRegularizer


def _fake_learner(out, training=True, loss=1.5):
    return SimpleNamespace(out=out, loss=torch.tensor(loss), training=training)


def test_ar_tar_values_against_their_formulas():
    torch.manual_seed(0)
    raw, dropped = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    learn = _fake_learner((torch.randn(2, 5, 7), raw, dropped))
    RNNRegularizer(alpha=2.0, beta=1.0).after_loss(learn)
    r, d = raw.double().numpy(), dropped.double().numpy()
    ar = sum(v * v for v in d.ravel()) / d.size
    diffs = [(r[b, t + 1, e] - r[b, t, e]) ** 2 for b in range(2) for t in range(4) for e in range(3)]
    tar = sum(diffs) / len(diffs)
    assert learn.loss.item() == pytest.approx(1.5 + 2.0 * ar + 1.0 * tar, rel=1e-6)


def test_only_in_training_and_zero_weights():
    out = (torch.zeros(1), torch.randn(2, 4, 3), torch.randn(2, 4, 3))
    learn = _fake_learner(out, training=False)
    RNNRegularizer().after_loss(learn)
    assert learn.loss.item() == 1.5
    learn = _fake_learner(out)
    RNNRegularizer(alpha=0.0, beta=0.0).after_loss(learn)
    assert learn.loss.item() == 1.5
    learn = _fake_learner((torch.zeros(1), torch.randn(2, 1, 3), torch.zeros(2, 1, 3)))
    RNNRegularizer().after_loss(learn)  # T == 1: no TAR
    assert learn.loss.item() == 1.5


def test_errors():
    with pytest.raises(TypeError, match=r"\(pred, raw, dropped\).*Tensor"):
        RNNRegularizer().after_loss(_fake_learner(torch.zeros(3)))
    with pytest.raises(ValueError, match="alpha must be a non-negative number, got -1"):
        RNNRegularizer(alpha=-1)


def test_with_the_training_core():
    from ulmfit.train import Learner

    torch.manual_seed(0)
    lm = build_language_model(20, AWDLSTMConfig(emb_sz=4, n_hid=8, n_layers=2))
    batches = [(torch.randint(0, 20, (2, 6)), torch.randint(0, 20, (2, 6))) for _ in range(2)]
    seen = []

    class Spy(RNNRegularizer):
        def after_loss(self, learn):
            before = learn.loss.detach().clone()
            super().after_loss(learn)
            seen.append((learn.training, (learn.loss - before).item()))

    learn = Learner(lm, batches, valid_dl=batches, loss_func=lm_loss, callbacks=[Spy()], progress=False)
    learn.fit(1, 1e-3)
    assert [t for t, _ in seen] == [True, True, False, False]
    assert all(delta > 0 for t, delta in seen if t) and all(delta == 0 for t, delta in seen if not t)
