import math

import pytest
import torch

from tests.ulmfit.train.helpers import MLP, EpochLoader, blobs
from ulmfit.train import Learner, Stage, TrainingLog
from ulmfit.train.training_log import read_log


def _learner(tmp_path=None, **kw):
    torch.manual_seed(0)
    x, y = blobs(n=96)
    dl = EpochLoader(x, y, bs=16)
    return Learner(MLP(), dl, EpochLoader(x, y, bs=32, shuffle=False), path=tmp_path, progress=False, **kw)


def test_stages_are_tagged_and_steps_numbered_across_fits(tmp_path):
    log = TrainingLog()
    learn = _learner(callbacks=[log])
    learn.stage = Stage("head only", 0, 2, epochs=2)
    learn.fit_one_cycle(2, 1e-2)
    learn.stage = Stage("all layers", 1, 2, epochs=1)
    learn.fit_one_cycle(1, 1e-3)
    assert [(e["stage"], e["epoch"], e["step"]) for e in log.epochs] == [
        ("head only", 1, 6), ("head only", 2, 12), ("all layers", 1, 18)]
    assert [s["step"] for s in log.steps] == list(range(1, 19))
    for row in log.epochs:  # the running mean at an epoch's last step is that epoch's train_loss
        last = [s for s in log.steps if s["step"] == row["step"]][0]
        assert last["loss"] == pytest.approx(row["train_loss"], rel=1e-9)
        in_epoch = [s["lr"] for s in log.steps if row["step"] - 6 < s["step"] <= row["step"]]
        assert "valid_loss" in row and row["lr"] == pytest.approx(max(in_epoch))  # the epoch's peak lr
        assert row["lr"] > last["lr"]  # one-cycle anneals: the end is below the peak
    assert log.steps[0]["lr"] < log.steps[2]["lr"]  # one-cycle warm-up is visible in the schedule
    names = log.write(tmp_path)
    assert names == ["metrics.csv", "steps.csv"]
    back = read_log(tmp_path)
    assert back["epochs"][2]["stage"] == "all layers" and back["epochs"][2]["step"] == 18
    assert back["steps"][-1]["loss"] == pytest.approx(log.steps[-1]["loss"])


def test_header_names_the_stage():
    text = Stage("last 2 groups", 1, 4, epochs=2, trainable="2 of 4", lrs=(1.5e-3, 1e-2)).header()
    assert text == "stage 2/4: last 2 groups (2 of 4 layer groups trainable), lr 1.5e-03 .. 1.0e-02, 2 epochs"


def test_progress_prints_the_stage_header_and_epoch_lines(capsys):
    learn = _learner()
    learn.progress = True
    from ulmfit.train import ProgressCallback

    learn.add_cb(ProgressCallback(bars=False))
    learn.stage = Stage("head only", 0, 2, epochs=1, trainable="1 of 3", lrs=(1e-2, 1e-2))
    learn.fit_one_cycle(1, 1e-2)
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "stage 1/2: head only (1 of 3 layer groups trainable), lr 1.0e-02, 1 epoch"
    assert "epoch 1/1" in out


def test_resume_mid_epoch_keeps_the_steps_before_the_checkpoint(tmp_path):
    from ulmfit.train import CheckpointCallback

    full_log = TrainingLog()
    _learner(callbacks=[full_log]).fit_one_cycle(2, 1e-2)

    class Interrupted(Exception):
        pass

    class Stop(CheckpointCallback):
        def after_batch(self, learn):
            super().after_batch(learn)
            if learn.step == 8:  # just after the checkpoint of step 8: the next 4 logged steps are lost
                raise Interrupted

    log = TrainingLog()
    learn = _learner(tmp_path, callbacks=[Stop(every_n_steps=4), log])
    with pytest.raises(Interrupted):
        learn.fit_one_cycle(2, 1e-2)
    log2 = TrainingLog()
    learn2 = _learner(tmp_path, callbacks=[CheckpointCallback(every_n_steps=4), log2])
    learn2.fit_one_cycle(2, 1e-2, resume=tmp_path / "checkpoint.pt")
    assert [s["step"] for s in log2.steps] == list(range(1, 13))
    for a, b in zip(log2.steps, full_log.steps):
        assert a["loss"] == pytest.approx(b["loss"]) and a["lr"] == pytest.approx(b["lr"])
    assert len(log2.epochs) == 2 and not any(math.isnan(e["train_loss"]) for e in log2.epochs)
