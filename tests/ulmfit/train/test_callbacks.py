import pytest
import torch

from tests.ulmfit.train.helpers import MLP, EpochLoader, blobs
from ulmfit.train import Callback, KeepBest, Learner, accuracy


def _learner(callbacks=(), valid=True):
    torch.manual_seed(0)
    x, y = blobs(96, seed=1)
    valid_dl = EpochLoader(x[:24], y[:24], bs=12, shuffle=False) if valid else None
    return Learner(MLP(p=0.3), EpochLoader(x, y, bs=12, seed=3), valid_dl, metrics=[accuracy], progress=False,
                   callbacks=list(callbacks))


def test_keep_best_restores_the_best_epoch_and_restore_false_only_records():
    states = []

    class Snap(Callback):
        def after_epoch(self, learn):
            state = {k: v.clone() for k, v in learn.model.state_dict().items()}
            states.append((learn.epoch_metrics["valid_loss"], state))

    keep = KeepBest()  # valid_loss, min
    learn = _learner([Snap(), keep])
    learn.fit_one_cycle(5, 3e-1)  # a high lr: the validation loss is not monotone
    best_loss, best_state = min(states, key=lambda s: s[0])
    assert keep.best == best_loss and states[keep.best_epoch][0] == best_loss
    assert all(torch.equal(learn.model.state_dict()[k], v) for k, v in best_state.items())

    watch = KeepBest(monitor="accuracy", restore=False)
    learn = _learner([watch])
    learn.fit_one_cycle(3, 1e-2)
    assert watch.best_state is not None and watch.mode == "max"
    final = learn.model.state_dict()
    assert watch.best_epoch == 2 or any(not torch.equal(final[k], v) for k, v in watch.best_state.items())


def test_keep_best_needs_validation_and_a_reported_metric():
    with pytest.raises(ValueError, match="needs validation data"):
        _learner([KeepBest()], valid=False).fit(1)
    with pytest.raises(ValueError, match="monitor 'f1' is not reported"):
        _learner([KeepBest(monitor="f1")]).fit(1)
