import pytest
import torch
from torch import nn

from tests.ulmfit.train.helpers import MLP, EpochLoader, blobs
from ulmfit.train import Learner
from ulmfit.train.param_groups import group_parameters, make_param_groups, spread_lr


def test_slice_spreads_geometrically_over_five_groups():
    lr = 1e-2
    got = spread_lr(slice(lr / 2.6**4, lr), 5)
    want = [lr / 2.6**4, lr / 2.6**3, lr / 2.6**2, lr / 2.6, lr]
    assert got == pytest.approx(want, rel=1e-12)


def test_slice_hi_and_float():
    assert spread_lr(slice(1e-3), 4) == pytest.approx([1e-4, 1e-4, 1e-4, 1e-3])
    assert spread_lr(3e-3, 3) == [3e-3] * 3
    assert spread_lr(slice(1e-5, 1e-3), 1) == [1e-3]
    with pytest.raises(ValueError, match="layer groups"):
        spread_lr([1e-3, 1e-3], 3)
    with pytest.raises(TypeError, match="lr must be"):
        spread_lr("fast", 3)


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.mid = nn.Linear(4, 4)
        self.dec = nn.Linear(4, 10)
        self.dec.weight = self.emb.weight

    def layer_groups(self):
        return [self.mid, nn.ModuleList([self.emb, self.dec])]


def test_tied_params_in_one_group_and_no_wd_on_bias_and_norm():
    m = Tied()
    groups = group_parameters(m)
    ids = [id(p) for g in groups for p in g]
    assert len(ids) == len(set(ids)) == len(list(m.parameters()))
    mlp = MLP()
    pgs = make_param_groups(mlp, wd=0.1)
    no_wd = {id(p) for pg in pgs if pg["weight_decay"] == 0 for p in pg["params"]}
    for name, p in mlp.named_parameters():
        expect_no_wd = name.endswith("bias") or ".1." in name  # index 1 of each block is the BatchNorm
        assert (id(p) in no_wd) == expect_no_wd, name


def _learner(**kw):
    x, y = blobs(64)
    return Learner(MLP(), EpochLoader(x, y), progress=False, **kw)


def test_freeze_unfreeze_requires_grad():
    learn = _learner()
    m = learn.model
    learn.freeze()
    assert all(p.requires_grad for p in m.head.parameters())
    for blk in (m.block1, m.block2):
        assert not blk[0].weight.requires_grad and not blk[0].bias.requires_grad
        assert blk[1].weight.requires_grad and blk[1].bias.requires_grad  # BatchNorm kept trainable
    learn.freeze_to(1)
    assert not m.block1[0].weight.requires_grad
    assert m.block2[0].weight.requires_grad and m.head.weight.requires_grad
    learn.unfreeze()
    assert all(p.requires_grad for p in m.parameters())


def test_freeze_train_bn_false_freezes_norm_layers():
    learn = _learner(train_bn=False)
    learn.freeze()
    m = learn.model
    assert not m.block1[1].weight.requires_grad and not m.block2[1].bias.requires_grad
    assert m.head.weight.requires_grad


def test_frozen_params_are_not_stepped_and_freeze_clears_opt_state():
    learn = _learner()
    learn.fit(1, 1e-2)
    assert learn.opt is not None and len(learn.opt.state) > 0
    learn.freeze()
    assert learn.opt is None  # recreated, i.e. state cleared, at the next fit
    before = {n: p.detach().clone() for n, p in learn.model.named_parameters()}
    learn.fit(1, 1e-2)
    after = dict(learn.model.named_parameters())
    assert torch.equal(before["block1.0.weight"], after["block1.0.weight"])
    assert torch.equal(before["block2.0.bias"], after["block2.0.bias"])
    assert not torch.equal(before["block1.1.weight"], after["block1.1.weight"])  # BN still trains
    assert not torch.equal(before["head.weight"], after["head.weight"])


def test_discriminative_lrs_reach_optimizer():
    learn = _learner()
    lrs = []

    from ulmfit.train import Callback

    class Rec(Callback):
        def before_step(self, learn):
            lrs.append({pg["layer_group"]: pg["lr"] for pg in learn.opt.param_groups})

    learn.add_cb(Rec())
    learn.fit(1, slice(1e-4, 1e-2))
    assert lrs[0] == pytest.approx({0: 1e-4, 1: 1e-3, 2: 1e-2})
    lrs.clear()
    learn.fit(1, slice(1e-2))
    assert lrs[0] == pytest.approx({0: 1e-3, 1: 1e-3, 2: 1e-2})


def test_freeze_to_bad_index():
    learn = _learner()
    with pytest.raises(ValueError, match="freeze_to"):
        learn.freeze_to(7)
