import dataclasses
import warnings

import pytest
import torch

from ulmfit.models import AWDLSTM, AWDLSTMConfig

TINY = dict(emb_sz=8, n_hid=12, n_layers=3)


def tiny_cfg(**kw) -> AWDLSTMConfig:
    return AWDLSTMConfig(**{**TINY, **kw})


def test_presets_are_fastai_configs():
    lm = AWDLSTMConfig.language_model()
    assert lm == AWDLSTMConfig()
    assert (lm.emb_sz, lm.n_hid, lm.n_layers, lm.pad_token, lm.bidir) == (400, 1152, 3, 1, False)
    assert (lm.output_p, lm.hidden_p, lm.input_p, lm.embed_p, lm.weight_p) == (0.1, 0.15, 0.25, 0.02, 0.2)
    assert lm.tie_weights and lm.out_bias
    clas = AWDLSTMConfig.classifier()
    assert (clas.output_p, clas.hidden_p, clas.input_p, clas.embed_p, clas.weight_p) == (0.4, 0.3, 0.4, 0.05, 0.5)


def test_scaled_multiplies_every_dropout():
    half = AWDLSTMConfig.classifier().scaled(0.5)
    # fastai's text_classifier_learner defaults (drop_mult=0.5)
    for name, want in dict(output_p=0.2, hidden_p=0.15, input_p=0.2, embed_p=0.025, weight_p=0.25).items():
        assert getattr(half, name) == pytest.approx(want)
    assert half.emb_sz == 400 and AWDLSTMConfig.classifier().output_p == 0.4  # a copy


def test_dict_round_trip_and_unknown_keys():
    cfg = tiny_cfg(hidden_p=0.3)
    assert AWDLSTMConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"unknown AWDLSTMConfig key\(s\) \['n_hidden'\].*valid keys.*n_hid"):
        AWDLSTMConfig.from_dict({"n_hidden": 3})


@pytest.mark.parametrize("bad", [dict(n_layers=0), dict(emb_sz=2.5), dict(weight_p=1.0), dict(input_p=-0.1)])
def test_bad_config_values(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        tiny_cfg(**bad)


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="bidir"):
        AWDLSTM(10, tiny_cfg(bidir=True))
    with pytest.raises(ValueError, match="pad_token=1 is outside"):
        AWDLSTM(1, tiny_cfg())
    with pytest.raises(ValueError, match=r"shape \(B, T\)"):
        AWDLSTM(10, tiny_cfg())(torch.zeros(3, dtype=torch.long))


def test_layer_sizes_and_state_dict_keys():
    enc = AWDLSTM(50, tiny_cfg())
    shapes = {k: tuple(v.shape) for k, v in enc.state_dict().items()}
    assert shapes == {
        "embedding.weight": (50, 8),
        "rnns.0.weight_ih": (48, 8), "rnns.0.weight_hh": (48, 12), "rnns.0.bias_ih": (48,), "rnns.0.bias_hh": (48,),
        "rnns.1.weight_ih": (48, 12), "rnns.1.weight_hh": (48, 12), "rnns.1.bias_ih": (48,), "rnns.1.bias_hh": (48,),
        "rnns.2.weight_ih": (32, 12), "rnns.2.weight_hh": (32, 8), "rnns.2.bias_ih": (32,), "rnns.2.bias_hh": (32,),
    }


def test_eval_is_deterministic_and_training_is_not():
    torch.manual_seed(0)
    enc = AWDLSTM(30, tiny_cfg(input_p=0.3, hidden_p=0.3, embed_p=0.3, weight_p=0.3))
    x = torch.randint(0, 30, (4, 10))
    enc.eval()
    zero = enc.init_state(4)
    assert torch.equal(enc(x, zero)[0], enc(x, zero)[0])
    enc.train()
    assert not torch.equal(enc(x, zero)[0], enc(x, zero)[0])
    # with every p = 0 training mode equals eval mode
    enc0 = AWDLSTM(30, dataclasses.replace(enc.cfg, input_p=0.0, hidden_p=0.0, embed_p=0.0, weight_p=0.0))
    enc0.load_state_dict(enc.state_dict())
    out_train = enc0.train()(x, zero)[0]
    torch.testing.assert_close(out_train, enc.eval()(x, zero)[0])


def test_state_carried_across_calls_and_reset():
    torch.manual_seed(0)
    enc = AWDLSTM(30, tiny_cfg()).eval()
    x = torch.randint(0, 30, (3, 12))
    whole, _ = enc(x)
    enc.reset()
    a, _ = enc(x[:, :5])
    b, state = enc(x[:, 5:])
    torch.testing.assert_close(torch.cat([a, b], 1), whole)
    assert all(not h.requires_grad and not c.requires_grad for h, c in state)
    enc.reset()
    fresh, _ = enc(x[:, 5:])
    torch.testing.assert_close(fresh, enc(x[:, 5:], enc.init_state(3))[0])
    assert not torch.allclose(fresh, b)


def test_functional_form_does_not_touch_stored_state():
    torch.manual_seed(0)
    enc = AWDLSTM(30, tiny_cfg()).eval()
    x = torch.randint(0, 30, (2, 8))
    out, state = enc(x, enc.init_state(2))
    assert enc._state is None
    out2, state2 = enc(x, state)
    enc.reset()
    enc(x)
    torch.testing.assert_close(enc(x)[0], out2)
    with pytest.raises(ValueError, match="batch size 5"):
        enc(torch.zeros(5, 3, dtype=torch.long), state)


def test_gradient_is_truncated_between_stateful_calls():
    enc = AWDLSTM(30, tiny_cfg()).train()
    x = torch.randint(0, 30, (2, 6))
    enc(x)
    out, _ = enc(x)
    out.sum().backward()  # would fail with "backward through the graph a second time" if not detached
    enc.zero_grad()
    out, _ = enc(x)
    out.sum().backward()


def test_batch_size_change_truncates_or_zero_extends():
    torch.manual_seed(0)
    enc = AWDLSTM(30, tiny_cfg()).eval()
    x = torch.randint(0, 30, (4, 6))
    _, state = enc(x)
    y = torch.randint(0, 30, (6, 5))
    extended = [(torch.cat([h, torch.zeros(1, 2, h.size(2))], 1), torch.cat([c, torch.zeros(1, 2, c.size(2))], 1))
                for h, c in state]
    want = enc(y, extended)[0]
    torch.testing.assert_close(enc(y)[0], want)
    enc.reset()
    enc(x)
    torch.testing.assert_close(enc(y[:2])[0], enc(y[:2], [(h[:, :2], c[:, :2]) for h, c in state])[0])


def test_no_warnings_from_lstm_kernel():
    enc = AWDLSTM(30, tiny_cfg(weight_p=0.5))
    x = torch.randint(0, 30, (2, 7))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for mode in (True, False):
            enc.train(mode)
            enc.reset()
            out, _ = enc(x)
            out.sum().backward()
            enc(x)


def test_bf16_autocast_state_does_not_leak_into_fp32():
    enc = AWDLSTM(30, tiny_cfg()).eval()
    x = torch.randint(0, 30, (2, 7))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        enc(x)
    out, _ = enc(x)  # the stored bf16 state is cast back to the weights' dtype
    assert out.dtype == torch.float32
