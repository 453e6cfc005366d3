import math

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from tests.ulmfit.train.helpers import MLP, EpochLoader, blobs
from ulmfit.train import Callback, CheckpointCallback, EarlyStopping, Learner


class Kill(Exception):
    pass


class KillAt(Callback):
    """Simulates a crash: raises after training step ``step`` (after the checkpoint callback ran)."""

    def __init__(self, step=None, epoch=None):
        self.step_, self.epoch_ = step, epoch

    def after_batch(self, learn):
        if learn.training and learn.step == self.step_:
            raise Kill()

    def before_epoch(self, learn):
        if learn.epoch == self.epoch_:
            raise Kill()


def _make(tmp_path, loader="epoch", callbacks=(), precision="fp32", init_seed=0):
    torch.manual_seed(init_seed)
    x, y = blobs(96, seed=1)
    if loader == "epoch":
        train_dl = EpochLoader(x, y, bs=12, seed=3)
    else:
        train_dl = DataLoader(
            TensorDataset(x, y), batch_size=12, shuffle=True, generator=torch.Generator().manual_seed(5)
        )
    valid_dl = EpochLoader(x[:24], y[:24], bs=12, shuffle=False)
    return Learner(
        MLP(p=0.3),
        train_dl,
        valid_dl,
        path=tmp_path,
        progress=False,
        seed=init_seed,
        callbacks=list(callbacks),
        precision=precision,
    )


def _run(learn, resume=None):
    learn.fit_one_cycle(3, 1e-2, resume=resume)  # 3 epochs x 8 steps
    return {k: v.clone() for k, v in learn.model.state_dict().items()}


@pytest.mark.parametrize(
    "kill, loader, precision",
    [
        ({"step": 11}, "epoch", "fp32"),  # mid-epoch
        ({"step": 8}, "epoch", "fp32"),  # last step of epoch 0, before its validation
        ({"epoch": 2}, "epoch", "fp32"),  # from the end-of-epoch checkpoint
        ({"step": 13}, "torch", "fp32"),  # torch DataLoader shuffled by a seeded generator
        ({"step": 13}, "epoch", "fp16"),  # scaler state
    ],
)
def test_kill_and_resume_is_bitwise_identical(tmp_path, kill, loader, precision):
    ref_learn = _make(tmp_path / "ref", loader, precision=precision)
    ref = _run(ref_learn)
    every = kill.get("step")
    ckpt_cb = CheckpointCallback(every_n_steps=every, every_epoch=every is None)
    with pytest.raises(Kill):
        _run(_make(tmp_path / "run", loader, [ckpt_cb, KillAt(**kill)], precision=precision))
    ckpt = tmp_path / "run" / "checkpoint.pt"
    assert ckpt.is_file()
    # the resumed process starts from other weights and RNG states
    resumed = _make(tmp_path / "run", loader, precision=precision, init_seed=1234)
    out = _run(resumed, resume=ckpt)
    for k in ref:
        assert torch.equal(ref[k], out[k]), k
    assert [h["epoch"] for h in resumed.history] == [0, 1, 2]
    ref_history = [h["train_loss"] for h in ref_learn.history]
    assert [h["train_loss"] for h in resumed.history] == pytest.approx(ref_history, rel=1e-12)
    rows = (tmp_path / "run" / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 3  # header + one row per epoch across the interrupted and resumed runs


def test_checkpoint_is_atomic_and_safe_to_load(tmp_path):
    learn = _make(tmp_path)
    learn.fit(1, 1e-3)
    path = learn.save_checkpoint(tmp_path / "sub" / "c.pt")
    assert sorted(p.name for p in path.parent.iterdir()) == ["c.pt"]  # no temp file left behind
    ckpt = torch.load(path, weights_only=True)
    pos = {k: ckpt["position"][k] for k in ("epoch", "batch_in_epoch", "step", "total_steps")}
    assert pos == {"epoch": 1, "batch_in_epoch": 0, "step": 8, "total_steps": 8}
    assert {"model", "optimizer", "scaler", "rng", "fit_args"} <= set(ckpt)


def test_checkpoint_from_another_model_names_file_and_keys(tmp_path):
    learn = _make(tmp_path)
    learn.fit(1, 1e-3)
    path = learn.save_checkpoint(tmp_path / "c.pt")
    x, y = blobs(96, seed=1)
    other = Learner(MLP(h=32), EpochLoader(x, y, bs=12), progress=False)
    with pytest.raises(ValueError, match=r"c\.pt.*block1\.0\.weight"):
        other.fit(1, 1e-3, resume=path)
    with pytest.raises(ValueError, match=r"c\.pt"):
        other.load_checkpoint(path)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pt"):
        other.load_checkpoint(garbage)


def test_resume_with_different_fit_arguments(tmp_path):
    learn = _make(tmp_path)
    learn.fit_one_cycle(1, 1e-3)
    path = learn.save_checkpoint(tmp_path / "c.pt")
    with pytest.raises(ValueError, match="different fit call"):
        _make(tmp_path).fit_one_cycle(1, 2e-3, resume=path)


def test_resume_restores_early_stopping_state(tmp_path):
    es = EarlyStopping(patience=5)
    learn = _make(tmp_path, callbacks=[es, CheckpointCallback(every_epoch=True), KillAt(epoch=2)])
    with pytest.raises(Kill):
        _run(learn)
    best, wait = es.best, es.wait
    es2 = EarlyStopping(patience=5)
    resumed = _make(tmp_path, callbacks=[es2, CheckpointCallback(every_epoch=True)])
    seen = []

    class Peek(Callback):
        def before_epoch(self, learn):
            seen.append((es2.best, es2.wait))

    resumed.add_cb(Peek())
    _run(resumed, resume=tmp_path / "checkpoint.pt")
    assert seen[0] == (best, wait) and math.isfinite(best)
