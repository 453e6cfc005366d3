import math

import pytest
import torch

from ulmfit.models import AWDLSTMConfig, build_language_model, lm_loss

TINY = AWDLSTMConfig(emb_sz=8, n_hid=12, n_layers=3)


def test_output_shapes_and_keys():
    lm = build_language_model(40, TINY)
    logits, raw, dropped = lm(torch.randint(0, 40, (3, 9)))
    assert logits.shape == (3, 9, 40) and raw.shape == (3, 9, 8) and dropped.shape == (3, 9, 8)
    assert list(lm.state_dict())[-2:] == ["decoder.weight", "decoder.bias"]
    assert all(k.startswith("encoder.") for k in list(lm.state_dict())[:-2])


def test_tied_weights_and_zero_bias():
    lm = build_language_model(40, TINY)
    assert lm.decoder.weight is lm.encoder.embedding.weight
    assert torch.equal(lm.decoder.bias, torch.zeros(40))
    n_unique = sum(p.numel() for p in lm.parameters())  # parameters() yields a shared Parameter once
    assert n_unique == sum(p.numel() for n, p in lm.named_parameters())
    # gradient: embedding-path + decoder-path contributions accumulate on the one Parameter
    lm.eval()
    x = torch.randint(2, 40, (2, 5))
    lm_loss(lm(x)[0], torch.randint(0, 40, (2, 5))).backward()
    g_total = lm.encoder.embedding.weight.grad.clone()
    assert g_total is not None and g_total.abs().sum() > 0
    untied = build_language_model(40, AWDLSTMConfig(emb_sz=8, n_hid=12, tie_weights=False, out_bias=False))
    assert untied.decoder.weight is not untied.encoder.embedding.weight and untied.decoder.bias is None


def test_fastai_sized_parameter_count():
    # fastai: get_language_model(AWD_LSTM, 1000) has 20,674,280 unique parameters
    lm = build_language_model(1000)
    assert sum(p.numel() for p in lm.parameters()) == 20_674_280


def test_drop_mult_scales_config():
    lm = build_language_model(40, TINY, drop_mult=0.5)
    assert lm.cfg.weight_p == pytest.approx(0.1) and lm.decoder.output_dp.p == pytest.approx(0.05)
    assert lm.encoder.rnns[0].weight_p == pytest.approx(0.1)
    assert lm.encoder.embedding.p == pytest.approx(0.01)


def test_layer_groups_match_fastai_split():
    lm = build_language_model(40, TINY)
    groups = lm.layer_groups()
    assert len(groups) == 4
    enc = lm.encoder
    for k in range(3):
        assert list(groups[k].parameters()) == list(enc.rnns[k].parameters())
    last = list(groups[3].parameters())
    assert len(last) == 2 and last[0] is enc.embedding.weight and last[1] is lm.decoder.bias
    all_params = {id(p) for g in groups for p in g.parameters()}
    assert all_params == {id(p) for p in lm.parameters()}


def test_reset_clears_state():
    lm = build_language_model(40, TINY).eval()
    x = torch.randint(0, 40, (2, 6))
    first = lm(x)[0]
    assert not torch.allclose(lm(x)[0], first)
    lm.reset()
    torch.testing.assert_close(lm(x)[0], first)


def test_lm_loss_matches_flat_cross_entropy_and_checks_shapes():
    logits = torch.randn(2, 3, 5)
    y = torch.randint(0, 5, (2, 3))
    manual = -torch.log_softmax(logits, -1).gather(-1, y[..., None]).mean()
    torch.testing.assert_close(lm_loss(logits, y), manual)
    with pytest.raises(ValueError, match="matching"):
        lm_loss(logits, y[:, :2])


def test_tiny_lm_learns_a_repeating_grammar():
    # A deterministic language whose next token after "2" depends on the context (so the recurrence must
    # carry state): perplexity must approach 1 (a bigram model cannot go below ~1.4, uniform is 10).
    torch.manual_seed(0)
    vocab = 10
    stream = torch.tensor([2, 3, 4, 2, 5, 6, 2, 7, 8, 9]).repeat(200)
    bs, bptt = 8, 10
    n = (len(stream) - 1) // bs * bs
    xs, ys = stream[:n].view(bs, -1), stream[1 : n + 1].view(bs, -1)
    cfg = AWDLSTMConfig(emb_sz=16, n_hid=32, n_layers=2, output_p=0.05, hidden_p=0.05, input_p=0.05,
                        embed_p=0.0, weight_p=0.05)
    lm = build_language_model(vocab, cfg)
    opt = torch.optim.Adam(lm.parameters(), lr=3e-2)
    for _epoch in range(5):
        lm.train()
        lm.reset()
        for i in range(0, xs.size(1) - bptt + 1, bptt):
            loss = lm_loss(lm(xs[:, i : i + bptt])[0], ys[:, i : i + bptt])
            opt.zero_grad()
            loss.backward()
            opt.step()
    lm.eval()
    lm.reset()
    with torch.no_grad():
        losses = [lm_loss(lm(xs[:, i : i + bptt])[0], ys[:, i : i + bptt]) for i in range(0, 200, bptt)]
    ppl = math.exp(torch.stack(losses).mean().item())
    assert ppl < 1.2, ppl


def test_bf16_autocast_training_step():
    lm = build_language_model(40, TINY).train()
    x, y = torch.randint(0, 40, (2, 6)), torch.randint(0, 40, (2, 6))
    for _ in range(2):  # the second call starts from the bf16 state the first one left
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = lm(x)[0]
            loss = lm_loss(logits, y)
        assert logits.dtype == torch.bfloat16 and loss.dtype == torch.float32
        loss.backward()
    assert lm.encoder.embedding.weight.grad.dtype == torch.float32
