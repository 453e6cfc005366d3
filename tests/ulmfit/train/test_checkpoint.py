import math

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from tests.ulmfit.train.helpers import MLP, EpochLoader, blobs
from ulmfit.train import Callback, CheckpointCallback, EarlyStopping, Learner, load_checkpoint


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


def _lm_learner(path, callbacks=(), init_seed=0):
    """A tiny AWD-LSTM LM on a seeded LMLoader: the encoder carries its state from batch to batch."""
    import numpy as np

    from ulmfit.data import LMLoader
    from ulmfit.models import AWDLSTMConfig, build_language_model, lm_loss

    torch.manual_seed(init_seed)
    rng = np.random.default_rng(0)
    docs = [rng.integers(2, 40, size=int(n)) for n in rng.integers(20, 60, size=40)]
    model = build_language_model(40, AWDLSTMConfig(emb_sz=8, n_hid=12, n_layers=2))
    train_dl = LMLoader(docs, bs=4, bptt=10, shuffle=True, seed=7, vocab_size=40)
    return Learner(model, train_dl, loss_func=lm_loss, path=path, progress=False, seed=init_seed,
                   callbacks=list(callbacks))


@pytest.mark.parametrize("kill_step", [3, 7, 12, 20])
def test_mid_epoch_resume_restores_the_carried_recurrent_state(tmp_path, kill_step):
    def run(learn, resume=None):
        learn.fit_one_cycle(2, 1e-2, resume=resume)
        return {k: v.clone() for k, v in learn.model.state_dict().items()}

    ref = run(_lm_learner(tmp_path / "ref"))
    n_batches = len(_lm_learner(None).train_dl)
    assert kill_step % n_batches != 0  # mid-epoch: the encoder's state is not a fresh reset here
    killed = _lm_learner(tmp_path / "run", [CheckpointCallback(every_n_steps=kill_step), KillAt(step=kill_step)])
    with pytest.raises(Kill):
        run(killed)
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ckpt["recurrent_state"]["encoder"] is not None
    out = run(_lm_learner(tmp_path / "run", init_seed=99), resume=tmp_path / "run" / "checkpoint.pt")
    for k in ref:
        assert torch.equal(ref[k], out[k]), k


def test_a_checkpoint_being_written_at_a_kill_is_never_loaded_and_is_cleaned_up(tmp_path, monkeypatch):
    learn = _make(tmp_path)
    learn.fit(1, 1e-3)
    path = learn.save_checkpoint(tmp_path / "checkpoint.pt")
    good = path.read_bytes()
    # a kill in the middle of the next write: torch.save dies after writing part of the file
    real_save = torch.save

    def dying_save(obj, f):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        learn.save_checkpoint(path)
    monkeypatch.setattr(torch, "save", real_save)
    assert path.read_bytes() == good  # the published checkpoint is untouched
    # a SIGKILL leaves the temporary file behind (no except clause runs): the next save removes it
    orphan = tmp_path / ".checkpoint.pt.abc123.tmp"
    orphan.write_bytes(b"half")
    assert load_checkpoint(path)["position"]["step"] == 8
    learn.save_checkpoint(path)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
