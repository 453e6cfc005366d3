import warnings

import pytest
import torch
from torch import nn

from ulmfit.models import WeightDropLSTM, single_chunk


def _zero_state(b, h):
    return torch.zeros(1, b, h), torch.zeros(1, b, h)


def test_matches_nn_lstm_in_eval():
    torch.manual_seed(0)
    layer = WeightDropLSTM(5, 7, weight_p=0.5).eval()
    ref = nn.LSTM(5, 7, batch_first=True)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, name + "_l0").copy_(getattr(layer, name))
    x = torch.randn(3, 11, 5)
    h0 = (torch.randn(1, 3, 7), torch.randn(1, 3, 7))
    out, (h, c) = layer(x, h0)
    rout, (rh, rc) = ref(x, h0)
    torch.testing.assert_close(out, rout)
    torch.testing.assert_close(h, rh)
    torch.testing.assert_close(c, rc)


def test_new_mask_each_training_forward_none_in_eval():
    torch.manual_seed(0)
    layer = WeightDropLSTM(4, 6, weight_p=0.5)
    layer.train()
    w1, w2 = layer.dropped_weight_hh(), layer.dropped_weight_hh()
    assert not torch.equal(w1, w2)
    assert 0.3 < (w1 == 0).float().mean() < 0.7
    torch.testing.assert_close(w1[w1 != 0], layer.weight_hh[w1 != 0] * 2)
    x = torch.randn(2, 5, 4)
    o1, _ = layer(x, _zero_state(2, 6))
    o2, _ = layer(x, _zero_state(2, 6))
    assert not torch.allclose(o1, o2)
    layer.eval()
    assert layer.dropped_weight_hh() is layer.weight_hh
    e1, _ = layer(x, _zero_state(2, 6))
    e2, _ = layer(x, _zero_state(2, 6))
    assert torch.equal(e1, e2)


def test_gradient_reaches_raw_weight_only_through_kept_entries():
    torch.manual_seed(0)
    layer = WeightDropLSTM(3, 4, weight_p=0.5).train()
    torch.manual_seed(5)
    mask = layer.dropped_weight_hh() != 0
    x = torch.randn(2, 6, 3)
    torch.manual_seed(5)
    out, _ = layer(x, _zero_state(2, 4))
    out.sum().backward()
    assert (layer.weight_hh.grad[~mask] == 0).all()
    assert layer.weight_hh.grad[mask].abs().sum() > 0


def test_no_warnings_and_plain_parameters():
    layer = WeightDropLSTM(3, 4, weight_p=0.3)
    assert [n for n, _ in layer.named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for mode in (True, False):
            layer.train(mode)
            out, _ = layer(torch.randn(2, 5, 3), _zero_state(2, 4))
            out.sum().backward()


def test_bad_weight_p():
    with pytest.raises(ValueError, match="weight_p"):
        WeightDropLSTM(2, 2, weight_p=1.5)


def test_single_chunk_views_one_buffer_in_order_with_gradients():
    # the CUDA path hands cuDNN these views; check the layout and autograd on CPU
    layer = WeightDropLSTM(3, 4, weight_p=0.5).train()
    weights = [layer.weight_ih, layer.dropped_weight_hh(), layer.bias_ih, layer.bias_hh]
    views = single_chunk(weights)
    assert all(v.shape == w.shape and torch.equal(v, w) for v, w in zip(views, weights))
    assert len({v.untyped_storage().data_ptr() for v in views}) == 1
    offsets = [v.storage_offset() for v in views]
    assert offsets == [0, 48, 48 + 64, 48 + 64 + 16] and all(v.is_contiguous() for v in views)
    sum((v * (i + 1)).sum() for i, v in enumerate(views)).backward()
    assert torch.equal(layer.weight_ih.grad, torch.ones(16, 3))
    assert torch.equal(layer.bias_hh.grad, torch.full((16,), 4.0))


@pytest.fixture
def cpu_without_bf16_lstm(monkeypatch):
    """This CPU as one without AVX512-BF16 (the CI machine): the fused LSTM fails under bf16 autocast or on
    bfloat16 inputs (the real thing: run the suite with ONEDNN_MAX_CPU_ISA=AVX2)."""
    from ulmfit.models import weight_drop

    real = weight_drop._fused_lstm

    def refuse_bf16(x, hx, weights, training):
        if torch.is_autocast_enabled("cpu") or x.dtype == torch.bfloat16:
            raise RuntimeError("could not create a primitive descriptor for the LSTM forward propagation primitive")
        return real(x, hx, weights, training)

    monkeypatch.setattr(weight_drop, "_fused_lstm", refuse_bf16)
    weight_drop.cpu_bf16_lstm_runs.cache_clear()
    yield
    weight_drop.cpu_bf16_lstm_runs.cache_clear()


def test_bf16_autocast_without_a_bf16_lstm_kernel_runs_the_lstm_in_fp32(cpu_without_bf16_lstm):
    torch.manual_seed(0)
    layer = WeightDropLSTM(5, 7, weight_p=0.5)
    x = torch.randn(3, 11, 5)
    h0 = _zero_state(3, 7)
    with pytest.warns(UserWarning, match="no bfloat16 LSTM kernel"), torch.autocast("cpu", dtype=torch.bfloat16):
        out, (h, c) = layer(x, h0)
    assert out.dtype == h.dtype == c.dtype == torch.float32
    out.sum().backward()
    assert layer.weight_ih.grad is not None and layer.weight_hh.grad is not None
    layer.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out_amp, _ = layer(x, h0)
    torch.testing.assert_close(out_amp, layer(x, h0)[0], rtol=0, atol=0)  # the same fp32 kernel


def test_bf16_probe_agrees_with_the_kernel():
    from ulmfit.models import weight_drop

    weight_drop.cpu_bf16_lstm_runs.cache_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = weight_drop.cpu_bf16_lstm_runs()
    layer = WeightDropLSTM(5, 7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = layer(torch.randn(2, 3, 5), _zero_state(2, 7))
    assert out.dtype == (torch.bfloat16 if runs else torch.float32)


@pytest.mark.parametrize("no_grad", [torch.no_grad, torch.inference_mode])
def test_bf16_probe_gives_the_same_answer_when_first_called_without_grad(no_grad):
    from ulmfit.models import weight_drop

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weight_drop.cpu_bf16_lstm_runs.cache_clear()
        expected = weight_drop.cpu_bf16_lstm_runs()
        weight_drop.cpu_bf16_lstm_runs.cache_clear()
        with no_grad():
            assert weight_drop.cpu_bf16_lstm_runs() == expected
