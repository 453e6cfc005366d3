import pytest
import torch
import torch.nn.functional as F

from ulmfit.models import AWDLSTMConfig, LMLoss, build_language_model, linear_cross_entropy, lm_loss


def _inputs(n=37, e=8, v=29, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, e, generator=g, requires_grad=True)
    w = torch.randn(v, e, generator=g, requires_grad=True)
    b = torch.randn(v, generator=g, requires_grad=True)
    y = torch.randint(0, v, (n,), generator=g)
    return h, w, b, y


@pytest.mark.parametrize("chunk_elems", [1, 29 * 5, 10 ** 6])  # one row, 5 rows, everything at once
def test_loss_and_gradients_equal_the_plain_decoder_and_cross_entropy(chunk_elems):
    h, w, b, y = _inputs()
    ref = F.cross_entropy(F.linear(h, w, b), y)
    ref_grads = torch.autograd.grad(ref * 3.0, (h, w, b))
    got = linear_cross_entropy(h, w, b, y, chunk_elems=chunk_elems)
    grads = torch.autograd.grad(got * 3.0, (h, w, b))  # the incoming gradient scales the saved ones
    torch.testing.assert_close(got, ref)
    for a, r in zip(grads, ref_grads):
        torch.testing.assert_close(a, r)


def test_without_bias_frozen_weight_and_no_grad():
    h, w, _, y = _inputs()
    w = w.detach()
    ref = F.cross_entropy(F.linear(h, w), y)
    got = linear_cross_entropy(h, w, None, y, chunk_elems=40)
    torch.testing.assert_close(got, ref)
    (gh,) = torch.autograd.grad(got, (h,))
    torch.testing.assert_close(gh, torch.autograd.grad(ref, (h,))[0])
    with torch.no_grad():
        torch.testing.assert_close(linear_cross_entropy(h, w, None, y), ref.detach())


def test_bf16_autocast_stays_close_to_fp32():
    h, w, b, y = _inputs(n=64, e=32, v=300)
    ref = F.cross_entropy(F.linear(h, w, b), y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = linear_cross_entropy(h, w, b, y, chunk_elems=3000)
    assert got.dtype == torch.float32
    assert abs(got.item() - ref.item()) < 0.05 * ref.item()


def test_shapes_are_checked():
    h, w, b, y = _inputs()
    with pytest.raises(ValueError, match="h \\(N, E\\)"):
        linear_cross_entropy(h, w, b, y[:-1])


def test_lm_loss_through_the_chunked_path_equals_the_logits_path():
    torch.manual_seed(0)
    lm = build_language_model(50, AWDLSTMConfig(emb_sz=12, n_hid=16, n_layers=2))
    x, y = torch.randint(0, 50, (3, 7)), torch.randint(0, 50, (3, 7))
    lm.train()
    torch.manual_seed(1)
    ref = lm_loss(lm(x)[0], y)
    ref_grads = torch.autograd.grad(ref, list(lm.parameters()))
    lm.reset()
    lm.chunked_softmax = True
    torch.manual_seed(1)  # the same dropout masks
    out = lm(x)
    assert out[0] is None
    got = LMLoss(lm)(out, y)
    torch.testing.assert_close(got, ref)
    for a, r in zip(torch.autograd.grad(got, list(lm.parameters())), ref_grads):
        torch.testing.assert_close(a, r)
    lm.eval()
    assert lm(x)[0].shape == (3, 7, 50)  # evaluation always produces logits
