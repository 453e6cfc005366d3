import pytest
import torch

from ulmfit.models import AWDLSTMConfig, build_classifier, build_language_model, masked_concat_pool

TINY = AWDLSTMConfig.classifier(emb_sz=6, n_hid=10, n_layers=3)
PAD = 1


def _clf(**kw):
    torch.manual_seed(0)
    return build_classifier(30, 3, TINY, **kw)


def test_shapes_keys_and_encoder_transfer_from_lm():
    clf = _clf()
    x = torch.randint(2, 30, (4, 9))
    logits, raw, out = clf(x)
    assert logits.shape == (4, 3) and raw.shape == (4, 9, 6) and out is raw
    lm = build_language_model(30, AWDLSTMConfig(emb_sz=6, n_hid=10, n_layers=3))
    assert list(clf.encoder.state_dict()) == list(lm.encoder.state_dict())
    clf.encoder.load_state_dict(lm.encoder.state_dict())
    assert torch.equal(clf.encoder.rnns[2].weight_hh, lm.encoder.rnns[2].weight_hh)
    head_keys = [k for k in clf.state_dict() if k.startswith("head.")]
    assert head_keys[:6] == ["head.layers.0.0.weight", "head.layers.0.0.bias", "head.layers.0.0.running_mean",
                             "head.layers.0.0.running_var", "head.layers.0.0.num_batches_tracked",
                             "head.layers.0.2.weight"]


def test_fastai_sized_parameter_count_and_head():
    # fastai: get_text_classifier(AWD_LSTM, 1000, 2) has 20,735,880 unique parameters
    clf = build_classifier(1000, 2)
    assert sum(p.numel() for p in clf.parameters()) == 20_735_880
    bn0, drop0, lin0, relu = clf.head.layers[0]
    bn1, drop1, lin1 = clf.head.layers[1]
    assert (bn0.num_features, lin0.in_features, lin0.out_features, lin1.out_features) == (1200, 1200, 50, 2)
    assert lin0.bias is None and lin1.bias is None
    assert torch.all(bn0.weight == 1) and torch.all(bn0.bias == 1e-3) and torch.all(bn1.bias == 1e-3)
    assert drop0.p == pytest.approx(0.4) and drop1.p == pytest.approx(0.1)
    assert isinstance(relu, torch.nn.ReLU)


def test_drop_mult_scales_encoder_and_output_p_but_not_head_ps():
    clf = build_classifier(30, 2, TINY, drop_mult=0.5)
    assert clf.cfg.weight_p == pytest.approx(0.25)
    assert clf.head.layers[0][1].p == pytest.approx(0.2) and clf.head.layers[1][1].p == pytest.approx(0.1)


def test_masked_concat_pool_formula():
    out = torch.arange(2 * 4 * 2, dtype=torch.float32).view(2, 4, 2)
    out[1, 1] = torch.tensor([100.0, -100.0])
    mask = torch.tensor([[True, True, True, False], [False, True, True, False]])
    pooled = masked_concat_pool(out, mask)
    want0 = torch.cat([out[0, 2], out[0, :3].amax(0), out[0, :3].mean(0)])
    want1 = torch.cat([out[1, 2], out[1, 1:3].amax(0), out[1, 1:3].mean(0)])
    torch.testing.assert_close(pooled, torch.stack([want0, want1]))
    empty = masked_concat_pool(out, torch.zeros(2, 4, dtype=torch.bool))
    assert torch.equal(empty, torch.zeros(2, 6))


def test_padding_side_and_amount_do_not_change_outputs():
    clf = _clf(bptt=4, max_len=12).eval()
    texts = [torch.randint(2, 30, (n,)) for n in (9, 5, 14, 1)]
    alone = torch.cat([clf(t[None])[0] for t in texts])

    def pad(t, front, back):
        return torch.cat([torch.full((front,), PAD), t, torch.full((back,), PAD)])

    layouts = [
        [(0, 5), (0, 9), (0, 0), (0, 13)],  # pad at the end
        [(5, 0), (9, 0), (0, 0), (13, 0)],  # pad at the front
        [(4, 3), (1, 10), (2, 0), (8, 7)],  # both sides, not in whole chunks, longer than needed
    ]
    for layout in layouts:
        batch = torch.stack([pad(t, f, b) for t, (f, b) in zip(texts, layout)])
        logits, out, _ = clf(batch)
        torch.testing.assert_close(logits, alone, atol=1e-5, rtol=1e-5)


def test_keeps_only_chunks_within_last_max_len():
    clf = _clf(bptt=4, max_len=8).eval()
    x = torch.randint(2, 30, (1, 13))
    whole, _ = clf.encoder(x, clf.encoder.init_state(1))  # one pass; state carries across chunks anyway
    out, mask = clf.encode(x)
    # chunks start at 0, 4, 8, 12; those with 13 - start <= 8 are kept: positions 8..12 (as fastai)
    assert mask.tolist() == [[True] * 5]
    torch.testing.assert_close(out[0], whole[0, 8:])
    short, short_mask = clf.encode(torch.cat([x[:, :3], torch.full((1, 10), PAD)], 1))
    assert short_mask.tolist() == [[True] * 3]  # the window is as wide as the widest row needs
    torch.testing.assert_close(short[0], whole[0, :3])
    two, two_mask = clf.encode(torch.cat([x, torch.cat([x[:, :3], torch.full((1, 10), PAD)], 1)]))
    assert two_mask.tolist() == [[True] * 5, [True] * 3 + [False] * 2]
    torch.testing.assert_close(two[1, :3], whole[0, :3])
    assert torch.equal(two[1, 3:], torch.zeros(2, 6))


def test_gradients_only_through_kept_chunks():
    cfg = AWDLSTMConfig.classifier(emb_sz=6, n_hid=10, n_layers=2, embed_p=0.0)
    clf = build_classifier(40, 2, cfg, bptt=4, max_len=4).train()
    early, late = torch.arange(10, 14), torch.arange(20, 24)
    x = torch.stack([torch.cat([early, late]), torch.cat([late, torch.full((4,), PAD)])])
    logits, _, _ = clf(x)
    logits.sum().backward()
    g = clf.encoder.embedding.weight.grad
    assert g[10:14].abs().sum() == 0  # only seen in the first chunk of the long row, which is not pooled
    assert g[20:24].abs().sum() > 0


def test_layer_groups_match_fastai_split():
    clf = _clf()
    groups = clf.layer_groups()
    assert len(groups) == 5
    assert list(groups[0].parameters()) == [clf.encoder.embedding.weight]
    for k in range(3):
        assert list(groups[k + 1].parameters()) == list(clf.encoder.rnns[k].parameters())
    assert list(groups[4].parameters()) == list(clf.head.parameters())
    assert sum(len(list(g.parameters())) for g in groups) == len(list(clf.parameters()))


def test_y_range_and_bad_arguments():
    clf = build_classifier(30, 1, TINY, y_range=(-1.0, 2.0)).eval()
    y = clf(torch.randint(2, 30, (5, 7)))[0]
    assert y.min() > -1 and y.max() < 2
    with pytest.raises(ValueError, match="n_classes must be a positive int, got 0"):
        build_classifier(30, 0, TINY)
    with pytest.raises(ValueError, match="ps must give one dropout per entry of lin_ftrs"):
        build_classifier(30, 2, TINY, lin_ftrs=(50, 20), ps=(0.1,))


def test_all_pad_rows_and_bf16_autocast_training_step():
    clf = _clf(bptt=4, max_len=8).train()
    x = torch.randint(2, 30, (3, 10))
    x[1] = PAD  # an empty document pools to zeros instead of NaN
    x[2, 6:] = PAD
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, raw, _ = clf(x)
    assert torch.isfinite(logits).all() and raw.shape[:2] == (3, 6)  # row 0 keeps chunks 4.. of 10 tokens
    torch.nn.functional.cross_entropy(logits.float(), torch.tensor([0, 1, 2])).backward()
    assert clf.encoder.rnns[0].weight_hh.grad is not None


def test_next_token_loss_is_the_language_models_loss_on_each_rows_text():
    import torch.nn.functional as F

    lm = build_language_model(30, AWDLSTMConfig(emb_sz=6, n_hid=10, n_layers=3)).eval()
    torch.nn.init.normal_(lm.decoder.bias)
    clf = _clf(bptt=4, max_len=8).eval()    # several chunks per row, and a row longer than max_len
    clf.encoder.load_state_dict(lm.encoder.state_dict())
    rows = [torch.randint(2, 30, (n,)) for n in (11, 5, 1)]
    x = torch.full((3, 13), PAD)
    x[0, :11] = rows[0]
    x[1, 8:] = rows[1]   # padded before the text
    x[2, 3] = rows[2]    # one token: nothing to predict
    with torch.no_grad():
        out = clf(x)[1]
        ids, mask = clf.pooled_ids(x)
        loss = clf.next_token_loss(x, out, lm.decoder.bias)
        # row 0 pools its last 8 tokens (positions 3-10: the chunks from 4 on, max_len 8 at bptt 4 -> from 4)
        assert mask.sum(1).tolist() == [7, 5, 1] and ids[0, :7].tolist() == rows[0][4:].tolist()
        assert ids[1, :5].tolist() == rows[1].tolist() and ids[2, 0] == rows[2][0] and ids[2, 1] == PAD
        nll = []
        for row, first in ((rows[0], 4), (rows[1], 0)):
            lm.reset()
            logits = lm(row.unsqueeze(0))[0][0]    # the LM reads the whole row from a zero state
            nll.append(F.cross_entropy(logits[first:-1], row[first + 1:], reduction="none"))
        expected = torch.cat(nll).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    empty = torch.full((2, 4), PAD)
    empty[0, 0] = 5
    assert clf.next_token_loss(empty, clf(empty)[1]).item() == 0.0
