"""Callbacks: the ``Callback`` base class and the stock callbacks (early stopping, metrics logger,
progress bars, checkpoints).

The learner calls, in a plain loop over its callbacks, the method named after each event, passing
itself: ``before_fit, before_epoch, before_train, before_batch, after_pred, after_loss, before_step,
after_step, after_batch, after_train, before_validate, after_validate, after_epoch, after_fit``.
Batch events (``before_batch`` ... ``after_loss``, ``after_batch``) fire for validation batches too;
check ``learn.training``. ``before_step``/``after_step`` fire only in training.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

# Every event receives the ulmfit.train.Learner that runs it. It is not imported here: the learner imports
# its stock callbacks, and this module stays below it.
Learner = Any

__all__ = [
    "EVENTS",
    "Callback",
    "CheckpointCallback",
    "CSVLogger",
    "EarlyStopping",
    "KeepBest",
    "MetricsLogger",
    "ProgressCallback",
]

EVENTS = (
    "before_fit",
    "before_epoch",
    "before_train",
    "before_batch",
    "after_pred",
    "after_loss",
    "before_step",
    "after_step",
    "after_batch",
    "after_train",
    "before_validate",
    "after_validate",
    "after_epoch",
    "after_fit",
)


class Callback:
    """Override any event method; each receives the learner. The base methods do nothing.

    A callback may also define ``state_dict() -> dict`` and ``load_state_dict(dict)`` (plain python
    values and tensors): checkpoints save it and a resumed fit restores it (matched by position and
    class name in ``learn.cbs``).

    The LR finder's sweep fires the batch events (``before_batch`` ... ``after_step``) of every callback,
    but ``before_train`` / ``after_train`` only of those with ``in_lr_find = True`` (a callback that changes
    how training steps are computed, such as MixUp's mixed loss); loggers, progress bars and checkpoints
    do not see the sweep.
    """

    in_lr_find: bool = False

    def before_fit(self, learn: Learner) -> None: ...
    def before_epoch(self, learn: Learner) -> None: ...
    def before_train(self, learn: Learner) -> None: ...
    def before_batch(self, learn: Learner) -> None: ...
    def after_pred(self, learn: Learner) -> None: ...
    def after_loss(self, learn: Learner) -> None: ...
    def before_step(self, learn: Learner) -> None: ...
    def after_step(self, learn: Learner) -> None: ...
    def after_batch(self, learn: Learner) -> None: ...
    def after_train(self, learn: Learner) -> None: ...
    def before_validate(self, learn: Learner) -> None: ...
    def after_validate(self, learn: Learner) -> None: ...
    def after_epoch(self, learn: Learner) -> None: ...
    def after_fit(self, learn: Learner) -> None: ...

    def close(self) -> None:
        """Release resources (progress bars, files); called when a fit ends, also on an exception."""


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``mode``: ``"min"``, ``"max"`` or ``"auto"`` (min for names containing loss/error/perplexity).
    ``monitor`` is any key of ``learn.epoch_metrics`` (``train_loss``, ``valid_loss``, metric names).
    """

    def __init__(
        self, monitor: str = "valid_loss", patience: int = 1, mode: str = "auto", min_delta: float = 0.0
    ):
        if mode not in ("min", "max", "auto"):
            raise ValueError(f"EarlyStopping mode must be 'min', 'max' or 'auto', got {mode!r}")
        if patience < 0:
            raise ValueError(f"EarlyStopping patience must be >= 0, got {patience}")
        if mode == "auto":
            mode = "min" if any(w in monitor for w in ("loss", "error", "perplexity")) else "max"
        self.monitor, self.patience, self.mode, self.min_delta = monitor, patience, mode, abs(min_delta)
        self.best, self.wait, self.stopped_epoch = (math.inf if mode == "min" else -math.inf), 0, None
        self._restored = False  # set by load_state_dict: the next (resumed) fit keeps best/wait

    def before_fit(self, learn: Learner) -> None:
        names = learn.metric_names()
        if self.monitor not in names:
            raise ValueError(f"EarlyStopping monitor {self.monitor!r} is not reported; available: {names}")
        if not (learn.resuming and self._restored):
            self.best = math.inf if self.mode == "min" else -math.inf
            self.wait = 0
            self.stopped_epoch = None
        self._restored = False

    def state_dict(self) -> dict:
        """Saved in checkpoints, so that a resumed run stops where the uninterrupted one would."""
        return {"best": float(self.best), "wait": self.wait}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.wait, self.stopped_epoch, self._restored = state["best"], state["wait"], None, True

    def after_epoch(self, learn: Learner) -> None:
        value = learn.epoch_metrics[self.monitor]
        if _better(value, self.best, self.mode, self.min_delta):
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            learn.stop_training = True
            self.stopped_epoch = learn.epoch


def _better(value: float, best: float, mode: str, min_delta: float = 0.0) -> bool:
    return value < best - min_delta if mode == "min" else value > best + min_delta


class KeepBest(Callback):
    """Keep the weights of the best validation epoch of a fit and load them back at its end (fastai's
    ``SaveModelCallback``, Hugging Face's ``load_best_model_at_end``), in memory.

    Each ``fit`` (for a classifier: each gradual-unfreezing stage) starts afresh, so after several fits
    the callback holds the best epoch of the last one. ``monitor``: a key of ``learn.epoch_metrics``;
    ``mode`` as in :class:`EarlyStopping`; the first epoch that reaches the best value wins ties.
    ``restore=False`` only records (``best``, ``best_epoch``, ``best_state``: CPU copies of the model's
    ``state_dict``) and leaves the final weights in place.
    """

    def __init__(self, monitor: str = "valid_loss", mode: str = "auto", restore: bool = True):
        if mode not in ("min", "max", "auto"):
            raise ValueError(f"KeepBest mode must be 'min', 'max' or 'auto', got {mode!r}")
        if mode == "auto":
            mode = "min" if any(w in monitor for w in ("loss", "error", "perplexity")) else "max"
        self.monitor, self.mode, self.restore = monitor, mode, restore
        self._clear()
        self._restored = False

    def _clear(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.best_state: dict | None = None

    def before_fit(self, learn: Learner) -> None:
        if learn.valid_dl is None:
            raise ValueError("KeepBest needs validation data (the Learner has no valid_dl)")
        names = learn.metric_names()
        if self.monitor not in names:
            raise ValueError(f"KeepBest monitor {self.monitor!r} is not reported; available: {names}")
        if not (learn.resuming and self._restored):
            self._clear()
        self._restored = False

    def after_epoch(self, learn: Learner) -> None:
        value = float(learn.epoch_metrics[self.monitor])
        if math.isfinite(value) and _better(value, self.best, self.mode):
            self.best, self.best_epoch = value, learn.epoch
            self.best_state = {k: v.detach().cpu().clone() for k, v in learn.model.state_dict().items()}

    def after_fit(self, learn: Learner) -> None:
        if self.restore and self.best_state is not None:
            learn.model.load_state_dict(self.best_state)

    def state_dict(self) -> dict:
        return {"best": float(self.best), "best_epoch": self.best_epoch, "best_state": self.best_state}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch, self.best_state = state["best"], state["best_epoch"], state["best_state"]
        self._restored = True


class MetricsLogger(Callback):
    """Append one row per epoch (``learn.epoch_metrics``) to ``learn.path / filename``: CSV, or JSON
    lines when the name ends in ``.jsonl``. Only rank 0 writes. The first fit of this callback replaces
    an existing file; later fits (e.g. gradual unfreezing stages) and resumed fits append to it."""

    def __init__(self, filename: str = "metrics.csv"):
        self.filename = filename
        self.file: Path | None = None
        self._started = False

    def before_fit(self, learn: Learner) -> None:
        self.file = None
        if learn.path is None or not learn.is_main:
            return
        self.file = Path(learn.path) / self.filename
        self.file.parent.mkdir(parents=True, exist_ok=True)
        if not learn.resuming and not self._started and self.file.exists():
            self.file.unlink()
        self._started = True

    def after_epoch(self, learn: Learner) -> None:
        if self.file is None:
            return
        row = dict(learn.epoch_metrics)
        if self.file.suffix == ".jsonl":
            with open(self.file, "a") as f:
                f.write(json.dumps(row) + "\n")
            return
        new = not self.file.exists() or self.file.stat().st_size == 0
        with open(self.file, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)


CSVLogger = MetricsLogger


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


class ProgressCallback(Callback):
    """tqdm bars (epochs, and batches with the running loss) when stdout is a TTY; otherwise one plain
    summary line per epoch. Nothing at all with ``Learner(progress=False)``; only rank 0 prints."""

    def __init__(self, bars: bool | None = None, file=None):
        self.bars = bars
        self.file = file
        self.epoch_bar = self.batch_bar = None

    def _out(self):
        return self.file if self.file is not None else sys.stdout

    def before_fit(self, learn: Learner) -> None:
        self.active = learn.is_main
        use_bars = self.bars if self.bars is not None else getattr(self._out(), "isatty", lambda: False)()
        self.use_bars = bool(use_bars) and self.active
        self.t0 = time.time()
        stage = getattr(learn, "stage", None)
        if self.active and callable(getattr(stage, "header", None)):  # a multi-stage recipe names its stages
            print(stage.header(), file=self._out(), flush=True)
        if self.use_bars:
            from tqdm.auto import tqdm

            self.epoch_bar = tqdm(total=learn.n_epochs, initial=learn.epoch, desc="epoch", file=self._out())

    def before_train(self, learn: Learner) -> None:
        self.epoch_t0 = time.time()
        if self.use_bars:
            from tqdm.auto import tqdm

            self.batch_bar = tqdm(total=len(learn.train_dl), desc="train", leave=False, file=self._out())

    def after_batch(self, learn: Learner) -> None:
        if self.batch_bar is None or not learn.training or learn.loss is None:
            return  # without bars, no per-batch host sync
        # the running mean of the epoch so far: the epoch line's train_loss is its value at the last batch
        count = learn._loss_count
        self.batch_bar.update(1)
        if count:
            self.batch_bar.set_postfix(loss=f"{float(learn._loss_sum) / count:.4f}", refresh=False)

    def after_train(self, learn: Learner) -> None:
        if self.batch_bar is not None:
            self.batch_bar.close()
            self.batch_bar = None

    def after_epoch(self, learn: Learner) -> None:
        if not self.active:
            return
        m = learn.epoch_metrics
        parts = [f"epoch {m['epoch'] + 1}/{learn.n_epochs}"]
        parts += [f"{k} {_fmt(v)}" for k, v in m.items() if k not in ("epoch", "time")]
        if "time" in m:
            parts.append(f"time {int(m['time']) // 60}:{int(m['time']) % 60:02d}")
        line = "  ".join(parts)
        if self.epoch_bar is not None:
            self.epoch_bar.write(line, file=self._out())
            self.epoch_bar.update(1)
        else:
            print(line, file=self._out(), flush=True)

    def close(self) -> None:
        for bar in (self.batch_bar, self.epoch_bar):
            if bar is not None:
                bar.close()
        self.batch_bar = self.epoch_bar = None

    def after_fit(self, learn: Learner) -> None:
        self.close()


class CheckpointCallback(Callback):
    """Save ``learn.save_checkpoint(learn.path / filename)`` every ``every_n_steps`` training steps
    and/or at the end of every epoch. Requires ``Learner(path=...)``."""

    def __init__(
        self, every_n_steps: int | None = None, every_epoch: bool = True, filename: str = "checkpoint.pt"
    ):
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"every_n_steps must be None or >= 1, got {every_n_steps}")
        self.every_n_steps, self.every_epoch, self.filename = every_n_steps, every_epoch, filename

    def before_fit(self, learn: Learner) -> None:
        if learn.path is None:
            raise ValueError(
                "CheckpointCallback needs Learner(path=...) to know where to save; got path=None"
            )

    def after_batch(self, learn: Learner) -> None:
        if learn.training and self.every_n_steps and learn.step % self.every_n_steps == 0:
            learn.save_checkpoint(Path(learn.path) / self.filename)

    def after_epoch(self, learn: Learner) -> None:
        if self.every_epoch:
            learn.save_checkpoint(Path(learn.path) / self.filename)
