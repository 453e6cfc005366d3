import math

import pytest
import torch

from tests.ulmfit.train.helpers import MLP, EpochLoader, blobs
from ulmfit.train import Learner
from ulmfit.train.lr_finder import suggest_lr


def _learner():
    x, y = blobs(128)
    return Learner(MLP(bn=False), EpochLoader(x, y, bs=16), progress=False, seed=0)


def test_lr_find_returns_curve_and_restores_weights():
    learn = _learner()
    learn.fit(1, 1e-3)  # so that there is optimizer state to restore too
    weights = {k: v.clone() for k, v in learn.model.state_dict().items()}
    opt_state = {k: v.clone() for k, v in learn.opt.state[learn.model.head.weight].items()}
    rng = torch.get_rng_state()
    res = learn.lr_find(start_lr=1e-6, end_lr=1.0, num_it=30, stop_div=False)
    assert len(res.lrs) == len(res.losses) == 30  # more steps than one epoch (8 batches): loops the loader
    assert res.lrs[0] == pytest.approx(1e-6) and res.lrs[-1] == pytest.approx(1.0)
    ratios = [b / a for a, b in zip(res.lrs, res.lrs[1:])]
    assert ratios == pytest.approx([ratios[0]] * len(ratios))  # exponential
    assert 1e-6 <= res.suggestion <= 1.0 and all(math.isfinite(v) for v in res.losses)
    for k, v in learn.model.state_dict().items():
        assert torch.equal(v, weights[k]), k
    for k, v in learn.opt.state[learn.model.head.weight].items():
        assert torch.equal(v, opt_state[k]), k
    assert torch.equal(torch.get_rng_state(), rng)


def test_lr_find_stops_on_divergence():
    learn = _learner()
    res = learn.lr_find(start_lr=1e-4, end_lr=1e4, num_it=100)
    assert len(res.lrs) < 100
    assert res.losses[-1] > 4 * min(res.losses) or math.isnan(res.losses[-1])


def test_suggest_lr_is_steepest_descent_before_minimum():
    lrs = [10.0**e for e in range(-6, 1)]
    losses = [3.0, 2.9, 2.5, 1.0, 0.8, 0.7, 5.0]
    steep, lr_min = suggest_lr(lrs, losses)
    assert steep in (1e-4, 1e-3)  # where the loss falls fastest
    assert lr_min == pytest.approx(1e-1 / 10)  # min loss at lr 1e-1


def test_lr_find_bad_arguments():
    learn = _learner()
    with pytest.raises(ValueError, match="start_lr"):
        learn.lr_find(start_lr=1.0, end_lr=1e-3)
