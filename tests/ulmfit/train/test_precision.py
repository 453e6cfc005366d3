import pytest
import torch

from tests.ulmfit.train.helpers import MLP, EpochLoader, blobs
from ulmfit.train import Callback, Learner
from ulmfit.train.precision import MixedPrecision


class InjectInf(Callback):
    """Writes inf into one gradient at the chosen steps; records scale and weights around each step."""

    def __init__(self, at_steps):
        self.at_steps = set(at_steps)
        self.log = []

    def before_step(self, learn):
        if learn.step in self.at_steps:
            learn.model.head.weight.grad[0, 0] = float("inf")
        self.w = learn.model.head.weight.detach().clone()
        self.scale = learn.mp.scaler.get_scale()

    def after_step(self, learn):
        changed = not torch.equal(self.w, learn.model.head.weight)
        self.log.append((learn.step, self.scale, learn.mp.scaler.get_scale(), changed, learn.step_skipped))


def test_fp16_inf_gradient_skips_step_halves_scale_and_scale_grows():
    x, y = blobs(128)
    cb = InjectInf(at_steps={1})
    learn = Learner(
        MLP(),
        EpochLoader(x, y, bs=16),
        precision="fp16",
        progress=False,
        callbacks=[cb],
        scaler_kwargs={"init_scale": 1024.0, "growth_interval": 3},
    )
    learn.fit(1, 1e-3)
    log = {s: rest for s, *rest in cb.log}
    before, after, changed, skipped = log[1]
    assert skipped and not changed and after == before / 2
    # step 0 clean: stepped, no growth yet
    assert log[0] == [1024.0, 1024.0, True, False]
    # three clean steps after the overflow (2, 3, 4) -> the scale doubles at the third
    assert [log[s][1] for s in (2, 3, 4)] == [512.0, 512.0, 1024.0]
    assert all(log[s][2] for s in (2, 3, 4))


def test_fp16_with_clip_unscales_before_clipping():
    norms = []

    class Rec(Callback):
        def after_step(self, learn):
            norms.append(torch.stack([p.grad.norm() for p in learn.model.parameters()]).norm().item())

    x, y = blobs(64)
    Learner(
        MLP(), EpochLoader(x, y, bs=16), precision="fp16", clip=0.01, progress=False, callbacks=[Rec()]
    ).fit(1, 1e-3)
    assert max(norms) <= 0.01 * 1.01  # unscaled grads were clipped (scaled ones would be ~65536x larger)


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_mixed_precision_trains_on_cpu(precision, dtype):
    seen = []

    class Rec(Callback):
        def after_pred(self, learn):
            seen.append((learn.out.dtype, learn.pred.dtype))

    x, y = blobs(128)
    learn = Learner(
        MLP(),
        EpochLoader(x, y, bs=16),
        EpochLoader(x, y, bs=64, shuffle=False),
        progress=False,
        precision=precision,
        callbacks=[Rec()],
        seed=0,
    )
    first = learn.validate()["valid_loss"]
    learn.fit_one_cycle(3, 1e-2)
    assert learn.validate()["valid_loss"] < first / 2
    assert seen[0] == (dtype, torch.float32)
    assert (learn.mp.scaler is not None) == (precision == "fp16")


def test_unknown_precision():
    with pytest.raises(ValueError, match=r"precision must be one of .*'fp32'.*got 'half'"):
        MixedPrecision("half")
