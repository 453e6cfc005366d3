import csv
import io
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.ulmfit.train.helpers import MLP, EpochLoader, blobs
from ulmfit.train import Callback, CSVLogger, EarlyStopping, Learner, ProgressCallback, accuracy, perplexity
from ulmfit.train.callbacks import EVENTS


def _data(n=256, bs=16, seed=0):
    x, y = blobs(n, seed=seed)
    return EpochLoader(x, y, bs=bs, seed=seed), EpochLoader(*blobs(64, seed=seed), bs=32, shuffle=False)


def test_fit_one_cycle_drives_training_loss_to_near_zero():
    torch.manual_seed(0)
    train_dl, valid_dl = _data()
    learn = Learner(MLP(), train_dl, valid_dl, metrics=[accuracy], progress=False)
    learn.fit_one_cycle(8, 1e-2)
    train_eval = learn.validate(EpochLoader(train_dl.x, train_dl.y, bs=64, shuffle=False))
    assert train_eval["valid_loss"] < 0.05
    assert train_eval["accuracy"] == 1.0
    assert len(learn.history) == 8 and learn.history[-1]["train_loss"] < learn.history[0]["train_loss"]


def test_fit_stlr_and_fit_train():
    train_dl, valid_dl = _data()
    for method in ("fit_stlr", "fit"):
        learn = Learner(MLP(), train_dl, valid_dl, metrics=[accuracy], progress=False, seed=0)
        getattr(learn, method)(4, 1e-2)
        assert learn.validate()["accuracy"] > 0.9


def test_events_fire_in_order_and_reset_called():
    calls = []

    class Rec(Callback):
        pass

    for ev in EVENTS:
        setattr(Rec, ev, lambda self, learn, ev=ev: calls.append((ev, learn.training)))

    class WithReset(MLP):
        n_reset = 0

        def reset(self):
            self.n_reset += 1

    x, y = blobs(32)
    learn = Learner(
        WithReset(), EpochLoader(x, y, bs=16), EpochLoader(x, y, bs=16), progress=False, callbacks=[Rec()]
    )
    learn.fit(1, 1e-3)
    evs = [c[0] for c in calls]
    assert evs[:4] == ["before_fit", "before_epoch", "before_train", "before_batch"]
    assert evs[4:9] == ["after_pred", "after_loss", "before_step", "after_step", "after_batch"]
    assert evs[-2:] == ["after_epoch", "after_fit"]
    assert evs.count("before_step") == 2 and evs.count("after_batch") == 4  # 2 train + 2 valid
    assert ("before_step", False) not in calls
    assert learn.model.n_reset == 2  # before training and before validation


class TupleLM(nn.Module):
    """A toy LM: returns (logits (B, T, V), hidden) like our AWD-LSTM LM."""

    def __init__(self, v=11, e=8):
        super().__init__()
        self.emb, self.out = nn.Embedding(v, e), nn.Linear(e, v)

    def forward(self, x):
        h = self.emb(x)
        return self.out(h), h


def test_lm_outputs_tuple_flat_loss_and_token_weighted_metrics():
    g = torch.Generator().manual_seed(0)
    batches = [
        (torch.randint(0, 11, (2, 5), generator=g), torch.randint(0, 11, (2, 5), generator=g)),
        (torch.randint(0, 11, (4, 3), generator=g), torch.randint(0, 11, (4, 3), generator=g)),
    ]

    class ListLoader(list):
        pass

    model = TupleLM()
    learn = Learner(
        model, ListLoader(batches), ListLoader(batches), metrics=[accuracy, perplexity], progress=False
    )
    res = learn.validate()
    with torch.no_grad():
        logits = torch.cat([model(x)[0].reshape(-1, 11) for x, _ in batches])
        ys = torch.cat([y.reshape(-1) for _, y in batches])
    want_loss = F.cross_entropy(logits, ys).item()  # mean over all 22 tokens
    assert res["valid_loss"] == pytest.approx(want_loss, rel=1e-5)
    assert res["accuracy"] == pytest.approx((logits.argmax(-1) == ys).float().mean().item())
    assert res["perplexity"] == pytest.approx(math.exp(want_loss), rel=1e-5)
    learn.fit(1, 1e-3)
    assert isinstance(learn.out, tuple) and learn.pred.shape[-1] == 11


def test_accuracy_shapes():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1])).item() == pytest.approx(2 / 3)
    assert accuracy(logits[None], torch.tensor([[0, 1, 1]])).item() == pytest.approx(2 / 3)
    assert accuracy(logits, torch.tensor([[1.0, 0], [0, 1], [0.3, 0.7]])).item() == pytest.approx(2 / 3)


@pytest.mark.parametrize("filename", ["metrics.csv", "metrics.jsonl"])
def test_metrics_logger_writes_one_row_per_epoch(tmp_path, filename):
    train_dl, valid_dl = _data(64)
    cbs = [CSVLogger(filename)] if filename.endswith("jsonl") else []
    learn = Learner(
        MLP(), train_dl, valid_dl, metrics=[accuracy], path=tmp_path, progress=False, callbacks=cbs
    )
    learn.fit_one_cycle(3, 1e-2)
    f = tmp_path / filename
    if filename.endswith(".csv"):
        rows = list(csv.DictReader(open(f)))
    else:
        rows = [json.loads(line) for line in open(f)]
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert set(rows[0]) >= {"train_loss", "valid_loss", "accuracy"}
    assert float(rows[-1]["valid_loss"]) == pytest.approx(learn.history[-1]["valid_loss"], rel=1e-4)
    learn.fit(1, 1e-3)  # a second stage appends
    n_lines = len(f.read_text().strip().splitlines())
    assert n_lines == (5 if filename.endswith(".csv") else 4)


def test_progress_prints_one_line_per_epoch_when_not_a_tty(capsys):
    train_dl, valid_dl = _data(64)
    Learner(MLP(), train_dl, valid_dl, metrics=[accuracy]).fit(2, 1e-3)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2") and "valid_loss" in lines[0]
    Learner(MLP(), train_dl, valid_dl, progress=False).fit(1, 1e-3)
    assert capsys.readouterr().out == ""


def test_progress_bars_on_a_tty_like_stream():
    stream = io.StringIO()
    train_dl, valid_dl = _data(64)
    learn = Learner(
        MLP(), train_dl, valid_dl, progress=False, callbacks=[ProgressCallback(bars=True, file=stream)]
    )
    learn.fit(2, 1e-3)
    out = stream.getvalue()
    assert "epoch 2/2" in out and "train_loss" in out and "train:" in out and "epoch: 100%" in out


def test_early_stopping_stops():
    train_dl, valid_dl = _data(64)
    es = EarlyStopping(monitor="valid_loss", patience=2)
    learn = Learner(MLP(bn=False), train_dl, valid_dl, progress=False, callbacks=[es])
    learn.fit(20, 0.0)  # lr 0: nothing improves after the first epoch
    assert len(learn.history) == 3 and es.stopped_epoch == 2


def test_early_stopping_unknown_monitor():
    train_dl, valid_dl = _data(64)
    learn = Learner(MLP(), train_dl, valid_dl, progress=False, callbacks=[EarlyStopping(monitor="acc")])
    with pytest.raises(ValueError, match="'acc'.*available"):
        learn.fit(1, 1e-3)


def test_bad_inputs_give_clear_errors():
    train_dl, _ = _data(64)
    with pytest.raises(ValueError, match="precision.*fp32.*'fp8'"):
        Learner(MLP(), train_dl, precision="fp8")
    learn = Learner(MLP(), train_dl, progress=False)
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="n_epochs"):
            learn.fit_one_cycle(bad, 1e-3)
    empty = Learner(MLP(), EpochLoader(*blobs(4), bs=8), progress=False)
    with pytest.raises(ValueError, match="empty"):
        empty.fit(1, 1e-3)
    with pytest.raises(ValueError, match="EarlyStopping mode"):
        EarlyStopping(mode="up")


def test_clip_limits_gradient_norm():
    norms = []

    class Rec(Callback):
        def after_step(self, learn):
            norms.append(torch.norm(torch.stack([p.grad.norm() for p in learn.model.parameters()])).item())

    train_dl, _ = _data(64)
    Learner(MLP(), train_dl, progress=False, clip=1e-3, callbacks=[Rec()]).fit(1, 1e-3)
    assert max(norms) <= 1e-3 * 1.001
