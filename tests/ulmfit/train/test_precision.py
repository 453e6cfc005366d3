import re

import pytest
import torch

from tests.ulmfit.train.helpers import MLP, EpochLoader, blobs
from ulmfit.train import Callback, Learner
from ulmfit.train.precision import MixedPrecision, check_precision


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
            # A step the scaler skipped (fp16 overflow at the initial scale, depending on the random init) has
            # inf gradients that were never clipped: only taken steps say something about clipping.
            if not learn.step_skipped:
                norms.append(torch.stack([p.grad.norm() for p in learn.model.parameters()]).norm().item())

    x, y = blobs(64)
    Learner(
        MLP(), EpochLoader(x, y, bs=16), precision="fp16", clip=0.01, progress=False, callbacks=[Rec()]
    ).fit(1, 1e-3)
    assert norms and max(norms) <= 0.01 * 1.01  # unscaled grads were clipped (scaled ones would be ~65536x larger)


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


# ---------------------------------------------------------------------------------------------- check_precision
needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks what happens without a CUDA GPU")


def test_check_precision_names_the_accepted_values():
    with pytest.raises(ValueError, match=r"precision must be one of \('fp32', 'fp16', 'bf16'\), got 'half'"):
        check_precision("half")
    with pytest.raises(ValueError, match=r"got None"):
        check_precision(None)


@needs_no_cuda
@pytest.mark.parametrize("device", [None, "cpu", torch.device("cpu")])
def test_check_precision_fp16_needs_a_gpu(device):
    with pytest.raises(ValueError) as e:
        check_precision("fp16", device)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("precision='fp16' needs a CUDA GPU (float16 autocast and loss scaling are GPU features")
    assert re.search(r"on this CPU use 'bf16' \(supported by this CPU: (yes|no|unknown)\) or 'fp32'$", msg)


@needs_no_cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("device", [None, "cpu", torch.device("cpu")])
def test_check_precision_bf16_and_fp32_run_on_cpu(precision, device):
    check_precision(precision, device)  # no error


@needs_no_cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")])
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_check_precision_cuda_device_without_a_gpu(device, precision):
    with pytest.raises(ValueError, match=r"^device='cuda(:0)?' but no CUDA GPU is available; use device='cpu'$"):
        check_precision(precision, device)


def test_check_precision_rejects_a_bad_device():
    with pytest.raises(ValueError, match=r"device='gpu' is not a torch device; use 'cpu', 'cuda' or 'cuda:N'"):
        check_precision("fp32", "gpu")
    with pytest.raises(ValueError, match=r"device must be None, a str .* got int \(0\)"):
        check_precision("fp32", 0)


@needs_no_cuda
def test_mixed_precision_checks_up_front_but_keeps_cpu_fp16():
    with pytest.raises(ValueError, match=r"no CUDA GPU is available"):
        MixedPrecision("fp32", "cuda")
    # the low-level building block still runs fp16 on a CPU (the Learner tests above use it)
    assert MixedPrecision("fp16", "cpu").scaler is not None
    check_precision("fp16", "cpu", allow_cpu_fp16=True)


@pytest.fixture
def fake_gpu(monkeypatch):
    """Pretend one CUDA GPU is visible (only the queries check_precision makes; nothing runs on it)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Fake GPU")
    return monkeypatch


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("device", [None, "cuda", "cuda:0"])
def test_check_precision_on_a_gpu(fake_gpu, precision, device):
    check_precision(precision, device)  # no error
    with pytest.raises(ValueError, match=r"^device='cuda:1' but only 1 CUDA GPU\(s\) are visible"):
        check_precision(precision, "cuda:1")


def test_check_precision_bf16_on_a_gpu_without_it(fake_gpu):
    fake_gpu.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    with pytest.raises(ValueError, match=r"^precision='bf16' is not supported by this GPU \(Fake GPU\); use 'fp16' or"):
        check_precision("bf16", "cuda")
    check_precision("fp16", "cuda")
    check_precision("bf16", "cpu")  # the CPU runs bf16 whatever the GPU supports


def test_auto_precision_resolves_by_hardware(monkeypatch):
    import torch

    from ulmfit.train.precision import resolve_precision

    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16", "cpu") == "bf16"
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert resolve_precision("auto", "cpu") == "fp32"  # AVX512-BF16 alone: bf16 steps were slower here
