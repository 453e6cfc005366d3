"""The training core's non-finite guard: bad steps are skipped and counted, a diverging run stops with one
clear error, and no NaN/inf weights reach a checkpoint."""

import math

import pytest
import torch

from tests.ulmfit.train.helpers import MLP, EpochLoader, blobs
from ulmfit.errors import TrainingDivergedError, UlmfitError
from ulmfit.train import Callback, CheckpointCallback, Learner, accuracy, load_checkpoint


def _learner(tmp_path=None, callbacks=(), precision="fp32", **kw):
    torch.manual_seed(0)
    x, y = blobs(96, seed=1)
    return Learner(MLP(), EpochLoader(x, y, bs=12, seed=3), EpochLoader(x[:24], y[:24], bs=12, shuffle=False),
                   path=tmp_path, progress=False, callbacks=list(callbacks), precision=precision, metrics=[accuracy],
                   **kw)


class NaNLossAt(Callback):
    """Replaces the training loss by NaN at the given steps (0-based)."""

    def __init__(self, steps):
        self.steps = set(steps)

    def after_loss(self, learn):
        if learn.training and learn.step in self.steps:
            learn.loss = learn.loss * float("nan")


@pytest.mark.filterwarnings("ignore:not writing checkpoint")
def test_huge_lr_stops_with_one_clear_error_and_no_nonfinite_checkpoint(tmp_path):
    learn = _learner(tmp_path, [CheckpointCallback(every_n_steps=2)])
    with pytest.raises(TrainingDivergedError) as info:
        learn.fit(3, lr=1e6)
    msg = str(info.value)
    assert "\n" not in msg and "non-finite" in msg and "step" in msg and "learning rate(s) 1e+06" in msg
    assert isinstance(info.value, UlmfitError) and learn.n_nonfinite >= learn.max_bad_steps
    ckpt = tmp_path / "checkpoint.pt"
    if ckpt.exists():  # written before the weights broke: it must be finite, and the message names it
        assert str(ckpt) in msg
        assert all(torch.isfinite(v).all() for v in load_checkpoint(ckpt)["model"].values() if v.is_floating_point())


def test_isolated_nonfinite_steps_are_skipped_counted_and_training_recovers():
    learn = _learner(callbacks=[NaNLossAt({3, 4, 11})])
    learn.fit_one_cycle(3, 1e-2)
    assert learn.n_nonfinite == 3 and learn.n_skipped == 3
    assert all(torch.isfinite(p).all() for p in learn.model.parameters())
    assert all(math.isfinite(h["train_loss"]) for h in learn.history)  # skipped losses are not averaged in
    assert learn.history[-1]["accuracy"] > 0.9


def test_consecutive_nonfinite_steps_stop_at_max_bad_steps():
    learn = _learner(callbacks=[NaNLossAt(range(5, 100))], max_bad_steps=2)
    with pytest.raises(TrainingDivergedError, match="2 consecutive steps"):
        learn.fit(2, 1e-2)
    assert learn.step == 6  # steps 5 and 6 were bad; the error came right after the second


def test_fp16_overflow_steps_are_skipped_by_the_scaler_and_counted_not_fatal():
    class InfGrad(Callback):
        def before_step(self, learn):
            if learn.step in (2, 3, 4, 5):  # more than max_bad_steps in a row: overflows are not divergence
                next(learn.model.parameters()).grad.fill_(float("inf"))

    learn = _learner(callbacks=[InfGrad()], precision="fp16", scaler_kwargs={"init_scale": 2.0**8})
    learn.fit_one_cycle(3, 1e-2)
    assert learn.n_skipped == 4 and learn.n_nonfinite == 0
    assert learn.mp.scaler.get_scale() < 2.0**8
    assert all(torch.isfinite(p).all() for p in learn.model.parameters())
    assert learn.history[-1]["accuracy"] > 0.9


def test_max_bad_steps_is_validated():
    with pytest.raises(ValueError, match="max_bad_steps"):
        _learner(max_bad_steps=0)


def test_a_skipped_step_leaves_batchnorm_running_statistics_as_they_were():
    class NaNInputAt(Callback):
        def before_batch(self, learn):
            if learn.training and learn.step == 2:
                learn.xb = learn.xb * float("nan")
                self.before = [b.clone() for b in (bn.running_mean, bn.running_var, bn.num_batches_tracked)]

    torch.manual_seed(0)
    bn = torch.nn.BatchNorm1d(8)
    model = torch.nn.Sequential(bn, torch.nn.Linear(8, 3))
    x, y = blobs(96, seed=1)
    spy = NaNInputAt()
    learn = Learner(model, EpochLoader(x, y, bs=12, seed=3), None, progress=False, callbacks=[spy])
    learn.fit(1, 1e-2)
    assert learn.n_nonfinite == 1 and learn.n_skipped == 1
    assert torch.isfinite(bn.running_mean).all() and torch.isfinite(bn.running_var).all()
    # 8 batches, one skipped: 7 updates counted, and the statistics after step 2 continued from before it
    assert int(bn.num_batches_tracked) == 7
    assert not torch.equal(spy.before[0], bn.running_mean)  # later steps still update them


def test_running_statistics_are_restored_exactly_on_the_skipped_step():
    seen = {}

    class Watch(Callback):
        def before_batch(self, learn):
            if learn.training and learn.step == 1:
                learn.xb = learn.xb * float("nan")
                seen["before"] = bn.running_mean.clone()

        def after_step(self, learn):
            if learn.step == 1:
                seen["after"] = bn.running_mean.clone()

    torch.manual_seed(0)
    bn = torch.nn.BatchNorm1d(8)
    x, y = blobs(48, seed=1)
    learn = Learner(torch.nn.Sequential(bn, torch.nn.Linear(8, 3)), EpochLoader(x, y, bs=12, seed=3), None,
                    progress=False, callbacks=[Watch()])
    learn.fit(1, 1e-2)
    assert torch.equal(seen["before"], seen["after"])
