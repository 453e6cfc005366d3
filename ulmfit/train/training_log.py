"""What a training run did, step by step and epoch by epoch, across every stage of a recipe.

A recipe (gradual unfreezing, LM fine-tuning, pretraining) calls ``fit_*`` once per stage; before each it
sets ``learn.stage = Stage(name, index, count, ...)``. :class:`TrainingLog` tags what it records with
that stage and numbers steps globally, so that one table and one set of curves cover the whole run:

* ``log.epochs``: one row per epoch: stage, stage_index, epoch (1-based within the stage), step (global,
  at the epoch's end), lr (the top layer group's highest lr in the epoch: the schedule's peak, not its
  annealed end), train_loss, valid_loss and every metric, time;
* ``log.steps``: one row per training step: stage, stage_index, step, lr, loss = the running mean of
  the epoch's losses so far (the definition of ``train_loss``: at the epoch's last step they are equal).

:meth:`TrainingLog.write` saves both as ``metrics.csv`` and ``steps.csv`` (the model folder's record of
the run; ``ulmfit.report`` draws them). Losses are kept on the device during an epoch and read once at
its end (no host sync per step).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ulmfit.train.callbacks import Callback

__all__ = ["Stage", "TrainingLog", "read_log"]


@dataclass
class Stage:
    """One ``fit`` of a multi-stage recipe, as the progress header and the log name it.

    name: e.g. "head only", "last 2 groups", "all layers", "pretrain"; index: 0-based; count: stages in
    the recipe; epochs: planned epochs; trainable: "k of n" layer groups; lrs: (lowest, highest) group lr.
    """

    name: str
    index: int = 0
    count: int = 1
    epochs: int | None = None
    trainable: str | None = None
    lrs: tuple[float, float] | None = None
    extra: dict = field(default_factory=dict)

    def header(self) -> str:
        """``stage 2/4: last 2 groups (2 of 4 layer groups trainable), lr 1.5e-03 .. 1.0e-02, 2 epochs``."""
        parts = [f"stage {self.index + 1}/{self.count}: {self.name}"]
        if self.trainable:
            parts[0] += f" ({self.trainable} layer groups trainable)"
        if self.lrs:
            lo, hi = self.lrs
            parts.append(f"lr {hi:.1e}" if math.isclose(lo, hi) else f"lr {lo:.1e} .. {hi:.1e}")
        if self.epochs is not None:
            parts.append(f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}")
        return ", ".join(parts)


class TrainingLog(Callback):
    """Records :attr:`steps` and :attr:`epochs` (see the module docstring) over every fit it sees."""

    def __init__(self):
        self.epochs: list[dict] = []
        self.steps: list[dict] = []
        self._offset = 0  # global step at the start of the current fit
        self._pending: list[tuple] = []  # (global step, lr, loss tensor or float or None) of this epoch
        self._epoch_steps: list[tuple] = []

    def _stage(self, learn) -> Stage:
        stage = getattr(learn, "stage", None)
        return stage if isinstance(stage, Stage) else Stage("train")

    def before_fit(self, learn) -> None:
        # a resumed fit keeps what load_state_dict restored (the log up to the checkpoint, offset included)
        if not learn.resuming:
            self._offset = self.steps[-1]["step"] if self.steps else self._offset
            self._pending = []

    def after_step(self, learn) -> None:
        # after_step (not after_batch): logged before any after_batch checkpoint saves this callback's state
        lr = float(learn.opt.param_groups[-1]["lr"])
        loss = learn.loss.detach() if learn.loss is not None and learn._loss_ok else None
        self._pending.append((self._offset + learn.step + 1, lr, loss))

    def after_epoch(self, learn) -> None:
        stage = self._stage(learn)
        total = count = 0
        self._epoch_steps = self._values()
        for step, lr, loss in self._epoch_steps:
            if loss is not None:
                total, count = total + loss, count + 1
            self.steps.append({"stage": stage.name, "stage_index": stage.index, "step": step, "lr": lr,
                               "loss": total / count if count else math.nan})
        self._pending = []
        m = dict(learn.epoch_metrics)
        peak = max((lr for _, lr, _ in self._epoch_steps), default=float(learn.opt.param_groups[-1]["lr"]))
        row = {"stage": stage.name, "stage_index": stage.index, "epoch": int(m.pop("epoch")) + 1,
               "step": self._offset + learn.step, "lr": peak}
        row.update(m)
        self.epochs.append(row)

    def _values(self) -> list[tuple[int, float, float | None]]:
        """The current epoch's steps with their losses read from the device (one transfer)."""
        tensors = [loss for _, _, loss in self._pending if isinstance(loss, torch.Tensor)]
        read = iter(torch.stack(tensors).double().tolist() if tensors else [])
        return [(step, lr, next(read) if isinstance(loss, torch.Tensor) else loss)
                for step, lr, loss in self._pending]

    def state_dict(self) -> dict:
        """Everything logged so far, the current epoch's steps included (a mid-epoch checkpoint)."""
        return {"epochs": self.epochs, "steps": self.steps, "offset": self._offset, "pending": self._values()}

    def load_state_dict(self, state: dict) -> None:
        self.epochs = [dict(e) for e in state.get("epochs", [])]
        self.steps = [dict(s) for s in state.get("steps", [])]
        self._offset = int(state.get("offset", 0))
        self._pending = [tuple(p) for p in state.get("pending", [])]

    def as_dict(self) -> dict:
        return {"epochs": [dict(e) for e in self.epochs], "steps": [dict(s) for s in self.steps]}

    def write(self, folder: str | Path) -> list[str]:
        """Write ``metrics.csv`` (epochs) and ``steps.csv`` into ``folder``; returns the file names."""
        return write_log(folder, self.epochs, self.steps)


def write_log(folder: str | Path, epochs: list[dict], steps: list[dict]) -> list[str]:
    """``metrics.csv`` (one row per epoch, every key of any row as a column) and ``steps.csv``."""
    from ulmfit.hub.atomic import atomic_write_text

    written = []
    for name, rows in (("metrics.csv", epochs), ("steps.csv", steps)):
        if not rows:
            continue
        columns = list(dict.fromkeys(k for row in rows for k in row))
        lines = [",".join(columns)]
        for row in rows:
            lines.append(",".join(_cell(row.get(k)) for k in columns))
        atomic_write_text(Path(folder) / name, "\n".join(lines) + "\n")
        written.append(name)
    return written


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else "nan"
    text = str(v)
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text


def read_log(folder: str | Path) -> dict:
    """``{"epochs": [...], "steps": [...]}`` from a folder's ``metrics.csv``/``steps.csv`` (numbers parsed)."""
    out = {}
    for key, name in (("epochs", "metrics.csv"), ("steps", "steps.csv")):
        path = Path(folder) / name
        rows = []
        if path.is_file():
            with open(path, newline="", encoding="utf-8") as f:
                rows = [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(f)]
        out[key] = rows
    return out


def _parse(v: str):
    if v == "":
        return None
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v

