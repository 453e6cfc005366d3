import os
import pickle

import pytest
import torch
from torch import nn

from pretrained.fastai_io import (
    config_from_fastai_state_dict,
    from_fastai_state_dict,
    load_fastai_vocab,
    match_embeddings,
    read_fastai_weights,
    save_fastai_vocab,
    to_fastai_state_dict,
)
from ulmfit.models import AWDLSTMConfig, build_classifier, build_language_model

V, E, H, L = 30, 6, 10, 3


def fastai_lm_state(seed=0, v1=False):
    """A fastai-layout LM state dict built from the documented keys and shapes (ULMFIT_FACTS e)."""
    g = torch.Generator().manual_seed(seed)
    sizes = [E] + [H] * (L - 1) + [E]
    emb = torch.rand(V, E, generator=g) * 0.2 - 0.1
    state = {"0.encoder.weight": emb, "0.encoder_dp.emb.weight": emb}
    for k in range(L):
        i, h = sizes[k], sizes[k + 1]
        state[f"0.rnns.{k}.weight_hh_l0_raw"] = torch.randn(4 * h, h, generator=g) * 0.3
        state[f"0.rnns.{k}.module.weight_ih_l0"] = torch.randn(4 * h, i, generator=g) * 0.3
        if v1:  # a dropped copy, must be ignored
            state[f"0.rnns.{k}.module.weight_hh_l0"] = torch.zeros(4 * h, h)
        state[f"0.rnns.{k}.module.bias_ih_l0"] = torch.randn(4 * h, generator=g) * 0.1
        state[f"0.rnns.{k}.module.bias_hh_l0"] = torch.randn(4 * h, generator=g) * 0.1
    state["1.decoder.weight"] = emb
    state["1.decoder.bias"] = torch.randn(V, generator=g) * 0.1
    return state


class ReferenceLM(nn.Module):
    """fastai's AWD-LSTM LM forward in eval mode, from plain torch modules and fastai's keys."""

    def __init__(self, state):
        super().__init__()
        sizes = [E] + [H] * (L - 1) + [E]
        self.emb = nn.Embedding(V, E)
        self.lstms = nn.ModuleList(nn.LSTM(sizes[k], sizes[k + 1], batch_first=True) for k in range(L))
        self.dec = nn.Linear(E, V)
        with torch.no_grad():
            self.emb.weight.copy_(state["0.encoder.weight"])
            for k, lstm in enumerate(self.lstms):
                lstm.weight_ih_l0.copy_(state[f"0.rnns.{k}.module.weight_ih_l0"])
                lstm.weight_hh_l0.copy_(state[f"0.rnns.{k}.weight_hh_l0_raw"])
                lstm.bias_ih_l0.copy_(state[f"0.rnns.{k}.module.bias_ih_l0"])
                lstm.bias_hh_l0.copy_(state[f"0.rnns.{k}.module.bias_hh_l0"])
            self.dec.weight.copy_(state["1.decoder.weight"])
            self.dec.bias.copy_(state["1.decoder.bias"])
        self.hidden = None

    def forward(self, x):
        out = self.emb(x)
        hidden = []
        for k, lstm in enumerate(self.lstms):
            out, hc = lstm(out, None if self.hidden is None else self.hidden[k])
            hidden.append(hc)
        self.hidden = hidden
        return self.dec(out)


def _our_lm():
    return build_language_model(V, AWDLSTMConfig(emb_sz=E, n_hid=H, n_layers=L))


@pytest.mark.parametrize("v1", [False, True])
def test_parity_with_reference_fastai_forward(v1):
    state = fastai_lm_state(v1=v1)
    ref = ReferenceLM(state).eval()
    lm = _our_lm().eval()
    lm.load_state_dict(from_fastai_state_dict(state))
    torch.manual_seed(1)
    for _ in range(2):  # the second batch continues from the carried state in both models
        x = torch.randint(0, V, (4, 11))
        with torch.no_grad():
            ours, want = lm(x)[0], ref(x)
        assert (ours - want).abs().max().item() < 1e-5


def test_round_trip_and_fastai_key_order():
    lm = _our_lm()
    ours = lm.state_dict()
    fa = to_fastai_state_dict(ours)
    assert list(fa)[:6] == ["0.encoder.weight", "0.encoder_dp.emb.weight", "0.rnns.0.weight_hh_l0_raw",
                            "0.rnns.0.module.weight_ih_l0", "0.rnns.0.module.bias_ih_l0",
                            "0.rnns.0.module.bias_hh_l0"]
    assert list(fa)[-2:] == ["1.decoder.weight", "1.decoder.bias"] and len(fa) == 16
    assert fa["0.rnns.2.weight_hh_l0_raw"].shape == (4 * E, E)
    back = from_fastai_state_dict(fa)
    assert list(back) == list(ours)
    assert all(torch.equal(back[k], ours[k]) for k in ours)
    fa1 = to_fastai_state_dict(ours, v1=True)
    assert "0.rnns.1.module.weight_hh_l0" in fa1
    assert all(torch.equal(from_fastai_state_dict(fa1)[k], ours[k]) for k in ours)


def test_encoder_and_classifier_layouts():
    clf = build_classifier(V, 2, AWDLSTMConfig.classifier(emb_sz=E, n_hid=H, n_layers=L))
    sd = clf.state_dict()
    fa = to_fastai_state_dict(sd)
    assert "0.module.rnns.2.weight_hh_l0_raw" in fa and "1.layers.0.2.weight" in fa
    back = from_fastai_state_dict(fa)
    assert list(back) == list(sd) and all(torch.equal(back[k], sd[k]) for k in sd)
    # fastai's save_encoder layout: no prefix
    enc = {k[2:]: v for k, v in fastai_lm_state().items() if k.startswith("0.")}
    ours = from_fastai_state_dict(enc)
    assert list(ours) == ["encoder." + k for k in _our_lm().encoder.state_dict()]


def test_config_from_state_and_bad_keys():
    cfg = config_from_fastai_state_dict(fastai_lm_state())
    assert (cfg.emb_sz, cfg.n_hid, cfg.n_layers, cfg.weight_p) == (E, H, L, 0.2)
    bad = fastai_lm_state()
    bad["0.rnns.0.extra"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"unexpected key\(s\).*0.rnns.0.extra"):
        from_fastai_state_dict(bad)
    with pytest.raises(ValueError, match="not a fastai AWD-LSTM state dict"):
        from_fastai_state_dict({"weight": torch.zeros(1)})


def test_read_weights_unwraps_and_refuses_unsafe_files(tmp_path):
    state = fastai_lm_state()
    torch.save({"model": state, "opt": {"lr": 0.1}}, tmp_path / "lstm_fwd.pth")
    loaded = read_fastai_weights(tmp_path / "lstm_fwd.pth")
    assert list(loaded) == list(state) and torch.equal(loaded["1.decoder.bias"], state["1.decoder.bias"])

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    torch.save({"model": state, "x": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match=r"cannot load fastai weights .*evil.pth safely"):
        read_fastai_weights(tmp_path / "evil.pth")
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        read_fastai_weights(tmp_path / "missing.pth")


def test_vocab_round_trip_and_formats(tmp_path):
    itos = ["xxunk", "xxpad", "the", "é", ","]
    save_fastai_vocab(itos, tmp_path / "itos.pkl")
    with open(tmp_path / "itos.pkl", "rb") as f:
        assert pickle.load(f) == itos  # what fastai's load_pickle reads
    assert load_fastai_vocab(tmp_path / "itos.pkl") == itos
    for obj in (tuple(itos), {t: i for i, t in enumerate(itos)}, dict(enumerate(itos))):
        (tmp_path / "v.pkl").write_bytes(pickle.dumps(obj))
        assert load_fastai_vocab(tmp_path / "v.pkl") == itos
    (tmp_path / "bad.pkl").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ValueError, match="bad.pkl is not a fastai vocab"):
        load_fastai_vocab(tmp_path / "bad.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="junk.pkl"):
        load_fastai_vocab(tmp_path / "junk.pkl")
    with pytest.raises(ValueError, match="only strings"):
        save_fastai_vocab(["a", 3], tmp_path / "x.pkl")


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_malicious_vocab_pickle_runs_nothing(tmp_path, protocol):
    target = tmp_path / "pwned"
    path = tmp_path / "itos_wt103.pkl"
    path.write_bytes(pickle.dumps(["xxunk", _Evil(target)], protocol=protocol))
    with pytest.raises(ValueError, match=r"refusing to load .*itos_wt103.pkl.*(posix|os)\.system"):
        load_fastai_vocab(path)
    assert not target.exists()


def test_match_embeddings_keeps_known_rows_and_means_for_new(tmp_path):
    lm = _our_lm()
    state = lm.state_dict()
    old_itos = [f"w{i}" for i in range(V)]
    new_itos = ["w3", "brand_new", "w0", "w29", "other_new"]
    new = match_embeddings(state, old_itos, new_itos)
    emb, old_emb = new["encoder.embedding.weight"], state["encoder.embedding.weight"]
    assert emb.shape == (5, E) and new["decoder.bias"].shape == (5,)
    for j, i in ((0, 3), (2, 0), (3, 29)):
        assert torch.equal(emb[j], old_emb[i]) and new["decoder.bias"][j] == state["decoder.bias"][i]
    for j in (1, 4):
        torch.testing.assert_close(emb[j], old_emb.mean(0))
        torch.testing.assert_close(new["decoder.bias"][j], state["decoder.bias"].mean())
    assert new["decoder.weight"] is emb  # still tied
    small = build_language_model(5, AWDLSTMConfig(emb_sz=E, n_hid=H, n_layers=L))
    small.load_state_dict(new)
    assert small.decoder.weight is small.encoder.embedding.weight
    # the same on fastai's keys
    fa = match_embeddings(to_fastai_state_dict(state), old_itos, new_itos)
    assert torch.equal(fa["0.encoder.weight"], emb) and torch.equal(fa["1.decoder.weight"], emb)
    assert torch.equal(fa["0.encoder_dp.emb.weight"], emb)
    with pytest.raises(ValueError, match="old_itos has 2 tokens"):
        match_embeddings(state, ["a", "b"], new_itos)
