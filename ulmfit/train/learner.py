"""The training loop: ``Learner`` with ``fit``, ``fit_one_cycle``, ``fit_stlr``, ``validate``,
freezing, checkpoints/resume, LR finder and DDP.

One training step (``learn.training`` True)::

    xb, yb -> before_batch -> out = model(xb) (autocast) -> pred = out[0] if tuple -> after_pred
    -> loss = loss_func(pred, yb) (loss_func(out, yb) for LMLoss) -> after_loss -> backward (scaled for fp16)
    -> before_step
    -> unscale + clip -> optimizer step (skipped on inf/NaN under fp16) -> after_step -> after_batch

Validation runs the same up to ``after_loss`` under ``torch.no_grad`` and then ``after_batch``.

Exact resume (``fit_*(..., resume=path)``) restores model, optimizer, scaler, schedule position, RNG
states, the partial training loss and the recurrent state a model carries between batches (any submodule
with ``get_recurrent_state()``/``set_recurrent_state(state)``, such as the AWD-LSTM encoder), then skips
the batches already done in the interrupted epoch. So a run killed at any step and resumed ends with
bitwise the same weights on CPU, for loaders whose order depends only on ``set_epoch`` (ours), for
unshuffled loaders, and for ``torch.utils.data.DataLoader`` shuffled through a seeded ``generator=`` (its
state at the start of each epoch is saved). A ``DataLoader(shuffle=True)`` without a generator resumes
with a different order. Callbacks with ``state_dict``/``load_state_dict`` (EarlyStopping, KeepBest) are
saved and restored too. Under DDP only rank 0 writes and every rank restores rank 0's RNG states, so a
resumed multi-process run is equivalent but not bitwise identical when the model uses dropout.

Non-finite guard: a step whose loss or gradient norm is NaN/inf is not applied (under fp16 the GradScaler
skips it and lowers the scale; gradient overflows there are normal and only counted). ``max_bad_steps``
consecutive steps with a non-finite loss (or, without fp16, a non-finite gradient) stop training with a
``TrainingDivergedError`` naming the step, the learning rates and the last checkpoint written; weights
with NaN/inf are never written to a checkpoint. When a non-finite loss (or, without fp16, gradient) skips a
step, the running statistics its forward pass changed (BatchNorm) are put back too.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from ulmfit.errors import TrainingDivergedError, UsageError
from ulmfit.hub.model_folder import nonfinite_keys
from ulmfit.train import schedules
from ulmfit.train.callbacks import Callback, MetricsLogger, ProgressCallback
from ulmfit.train.checkpoint import (
    CHECKPOINT_FORMAT,
    atomic_save,
    check_state_dict,
    get_rng_state,
    load_checkpoint,
    set_rng_state,
)
from ulmfit.train.distributed import (
    all_reduce_sum,
    get_rank,
    get_world_size,
    is_distributed,
    setup_distributed,
    shard_loader,
)
from ulmfit.train.lr_finder import lr_find
from ulmfit.train.metrics import cross_entropy_flat, metric_name
from ulmfit.train.optim import adam
from ulmfit.train.param_groups import get_layer_groups, make_param_groups, set_trainable, spread_lr
from ulmfit.train.precision import MixedPrecision
from ulmfit.train.seed import seed_everything
from ulmfit.user_warning import warn

__all__ = ["Learner", "seed_everything"]


_RUNNING_STATS = ("running_mean", "running_var", "num_batches_tracked")


def _running_stats(model: nn.Module) -> list[torch.Tensor]:
    """The buffers a training forward pass updates in place: BatchNorm's (and InstanceNorm's, when it
    tracks) running mean, variance and batch count."""
    return [b for name, b in model.named_buffers() if name.rsplit(".", 1)[-1] in _RUNNING_STATS]


def _to_device(x, device: torch.device):
    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    if isinstance(x, (tuple, list)):
        return type(x)(_to_device(v, device) for v in x)
    if isinstance(x, dict):
        return {k: _to_device(v, device) for k, v in x.items()}
    return x


def _batch_weight(y) -> int:
    """Validation weight of a batch: number of integer targets (tokens for LMs), else batch size."""
    if isinstance(y, torch.Tensor):
        return y.numel() if not y.is_floating_point() else (y.shape[0] if y.ndim else 1)
    if isinstance(y, (tuple, list)) and y:
        return _batch_weight(y[0])
    return 1


def _encode_lr(lr):
    """A JSON/weights_only-safe form of an lr argument (floats, slices, sequences)."""
    if isinstance(lr, slice):
        return {"slice": [lr.start, lr.stop]}
    if isinstance(lr, (list, tuple)):
        return [float(v) for v in lr]
    return float(lr)


def _recurrent_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Submodules that carry state from one batch to the next (``get_recurrent_state``)."""
    return [(n, m) for n, m in model.named_modules() if callable(getattr(m, "get_recurrent_state", None))]


def _loader_generators(dl) -> list[torch.Generator]:
    """The torch Generators that drive a DataLoader's shuffling (loader and sampler), if any."""
    gens: list[torch.Generator] = []
    for obj in (
        dl,
        getattr(dl, "sampler", None),
        getattr(getattr(dl, "batch_sampler", None), "sampler", None),
    ):
        g = getattr(obj, "generator", None)
        if isinstance(g, torch.Generator) and all(g is not h for h in gens):
            gens.append(g)
    return gens


class Learner:
    """Model + data + loss + optimizer + callbacks, and the loop that trains them.

    Args:
        model: the network; ``forward(xb)`` (``forward(*xb)`` when ``xb`` is a tuple/list) returns a
            tensor or a tuple whose first item is the prediction. Optional ``layer_groups()`` and
            ``reset()`` (called before every training and validation phase).
        train_dl / valid_dl: iterables of ``(x, y)`` with ``__len__``; ``set_epoch(epoch)`` is called
            when present (also on a DataLoader's sampler).
        loss_func: ``(pred, y) -> scalar``; the default flattens LM logits ``(B, T, V)``. A loss with a
            true ``takes_output`` attribute (``ulmfit.models.LMLoss``) gets the model's whole output.
        opt_func: ``(param_groups) -> Optimizer``; default ``optim.adam`` (AdamW, betas (mom, 0.99),
            eps 1e-5), no weight decay on norm-layer params and biases.
        metrics: callables ``(pred, y) -> tensor`` averaged over validation batches (weighted by
            targets), or ``metrics.perplexity`` (``exp(valid_loss)``).
        wd: decoupled weight decay. moms: momentum (beta1) cycle for ``fit_one_cycle``; ``fit`` and
            ``fit_stlr`` use a constant ``mom=`` (default ``moms[0]``).
        precision: ``"fp32"``, ``"fp16"`` (autocast + GradScaler) or ``"bf16"`` (autocast).
        clip: max gradient norm (None: no clipping). train_bn: keep norm layers trainable when frozen.
        callbacks: extra ``Callback`` objects. path: folder for ``metrics.csv`` and checkpoints.
        progress: tqdm bars on a TTY, else one line per epoch; False prints nothing.
        device: None picks cuda when available (``cuda:LOCAL_RANK`` under torchrun), else cpu.
        seed: seeds python, numpy and torch once, here (the model is already built: seed before
            building it for a reproducible init); also the seed of a DistributedSampler made for DDP.
        scaler_kwargs: passed to ``torch.amp.GradScaler`` (e.g. ``growth_interval``).
        max_bad_steps: consecutive non-finite steps after which training stops with
            ``TrainingDivergedError`` (see the module docstring).
        ddp_kwargs: passed to ``DistributedDataParallel`` when running under torchrun.

    Under DDP ``learn.model`` stays the unwrapped module (its ``reset()``/``layer_groups()``/
    ``state_dict()`` are used as is); the wrapper, rebuilt at the start of every fit so that it
    sees the current freezing, is ``learn.ddp_model`` and runs the training forward passes.
    """

    def __init__(
        self,
        model: nn.Module,
        train_dl,
        valid_dl=None,
        loss_func: Callable = cross_entropy_flat,
        opt_func: Callable | None = None,
        metrics: Sequence[Callable] = (),
        wd: float = 0.01,
        moms: tuple[float, float, float] = (0.95, 0.85, 0.95),
        precision: str = "fp32",
        clip: float | None = None,
        train_bn: bool = True,
        callbacks: Sequence[Callback] = (),
        path: str | os.PathLike | None = None,
        progress: bool = True,
        device: str | torch.device | None = None,
        seed: int | None = None,
        scaler_kwargs: dict | None = None,
        ddp_kwargs: dict | None = None,
        max_bad_steps: int = 3,
    ):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if clip is not None and not clip > 0:
            raise ValueError(f"clip must be None or a positive max gradient norm, got {clip}")
        if len(moms) != 3:
            raise ValueError(f"moms must be 3 values (start, middle, end), got {moms!r}")
        if isinstance(max_bad_steps, bool) or not isinstance(max_bad_steps, int) or max_bad_steps < 1:
            raise ValueError(f"max_bad_steps must be an int >= 1, got {max_bad_steps!r}")
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}")
        if seed is not None:
            seed_everything(seed)
        self.device = setup_distributed(device)
        self.mp = MixedPrecision(precision, self.device, dict(scaler_kwargs or {}))
        self.precision = precision
        self.rank, self.world_size = get_rank(), get_world_size()
        self.is_main = self.rank == 0
        self.model = model.to(self.device)
        self.ddp_model: nn.Module | None = None
        self.ddp_kwargs = dict(ddp_kwargs or {})
        self.train_dl = shard_loader(train_dl, seed or 0)
        self.valid_dl = shard_loader(valid_dl, seed or 0) if valid_dl is not None else None
        # Training data fixed to another world size means every rank trains on the same batches. (A validation
        # loader may be whole on every rank on purpose: the figures stay right, only slower.)
        dl_world = getattr(self.train_dl, "world_size", None)  # None: the loader shards as torch.distributed says
        if self.world_size > 1 and dl_world is not None and dl_world != self.world_size:
            warn(
                f"train_dl has world_size={dl_world} but {self.world_size} processes are running: "
                "every rank will see the same data. Build loaders after "
                "ulmfit.train.distributed.setup_distributed() (or pass rank/world_size)."
            )
        self.loss_func = loss_func
        self.opt_func = opt_func if opt_func is not None else adam
        self.metrics = list(metrics)
        self.wd, self.moms, self.clip, self.train_bn = wd, tuple(moms), clip, train_bn
        self.path = Path(path) if path is not None else None
        if self.path is not None and self.path.exists() and not self.path.is_dir():
            raise UsageError(f"path {str(self.path)!r} is a file; the run's metrics and checkpoints go in a folder")
        self.progress = progress
        self.cbs: list[Callback] = list(callbacks)
        if progress:
            self.cbs.append(ProgressCallback())
        if self.path is not None and not any(isinstance(cb, MetricsLogger) for cb in self.cbs):
            self.cbs.append(MetricsLogger())
        self.opt: torch.optim.Optimizer | None = None
        # Loop state read (and partly replaced) by callbacks.
        self.xb = self.yb = self.out = self.pred = self.loss = None
        self.training = False
        self.epoch = self.step = self.batch_in_epoch = 0
        self.n_epochs = self.total_steps = 0
        self.stop_training = False
        self.step_skipped = False
        self.max_bad_steps = max_bad_steps
        self.n_skipped = 0  # steps not applied (non-finite loss or gradients, fp16 overflows included)
        self.n_nonfinite = 0  # of those, steps with a non-finite loss or (not fp16) gradient
        self._bad_streak = 0
        self._loss_ok = True
        self.last_checkpoint: Path | None = None  # the last checkpoint this learner wrote
        self.resuming = False
        self.epoch_metrics: dict = {}
        self.history: list[dict] = []  # epoch_metrics of every epoch of every fit (a checkpoint keeps it)
        self.stage = None  # a recipe's current stage (ulmfit.train.training_log.Stage): progress header, log tags
        self._epoch_done = False
        self._fit_args: dict | None = None
        self._epoch_gen_states: list[torch.Tensor] = []
        self._loss_sum, self._loss_count, self._resume_loss = (
            torch.zeros((), dtype=torch.float64),
            0,
            (0.0, 0),
        )

    # ------------------------------------------------------------------ callbacks / parameter groups
    def _cb(self, event: str) -> None:
        for cb in self.cbs:
            getattr(cb, event)(self)

    def add_cb(self, cb: Callback) -> None:
        self.cbs.append(cb)

    def remove_cb(self, cb: Callback) -> None:
        self.cbs.remove(cb)

    @property
    def n_groups(self) -> int:
        return len(get_layer_groups(self.model))

    def create_opt(self) -> torch.optim.Optimizer:
        """Build the optimizer over all parameters (frozen ones are simply not stepped: no grad)."""
        self.opt = self.opt_func(make_param_groups(self.model, self.wd))
        return self.opt

    def freeze_to(self, n: int) -> None:
        """Make layer groups ``n`` onward trainable (python indexing), the others frozen; clears the
        optimizer state as fastai does."""
        set_trainable(self.model, n, self.train_bn)
        self.opt = None

    def freeze(self) -> None:
        """Only the last layer group is trained (``freeze_to(-1)``)."""
        self.freeze_to(-1)

    def unfreeze(self) -> None:
        """All layer groups are trained."""
        self.freeze_to(0)

    def set_hparams(self, lrs: list[float], mom: float | None) -> None:
        """Set each parameter group's learning rate (``lrs`` per layer group) and momentum (beta1)."""
        for pg in self.opt.param_groups:
            pg["lr"] = lrs[pg.get("layer_group", len(lrs) - 1)]
            if mom is None:
                continue
            if "betas" in pg:
                pg["betas"] = (mom, pg["betas"][1])
            elif "momentum" in pg:
                pg["momentum"] = mom

    # ------------------------------------------------------------------ public fit methods
    def fit(
        self,
        n_epochs: int,
        lr: float | slice = 1e-3,
        mom: float | None = None,
        resume: str | os.PathLike | None = None,
    ) -> None:
        """Train ``n_epochs`` at a constant ``lr`` (float, ``slice`` or per-group sequence) and momentum
        ``mom`` (default ``moms[0]``)."""
        lrs = spread_lr(lr, self.n_groups)
        mom = self.moms[0] if mom is None else float(mom)
        args = {"method": "fit", "n_epochs": n_epochs, "lr": _encode_lr(lr), "mom": mom}
        self._fit(n_epochs, lambda step, total: (lrs, mom), args, resume)

    def fit_one_cycle(
        self,
        n_epochs: int,
        lr_max: float | slice = 1e-3,
        pct_start: float = 0.25,
        div: float = 25.0,
        div_final: float = 1e5,
        moms: tuple[float, float, float] | None = None,
        resume: str | os.PathLike | None = None,
    ) -> None:
        """fastai's one-cycle: per group, cosine ``lr/div -> lr`` over ``pct_start`` of the steps, then
        cosine ``lr -> lr/div_final``; momentum cosine ``moms[0] -> moms[1] -> moms[2]``."""
        if not 0 <= pct_start <= 1:
            raise ValueError(f"pct_start must be in [0, 1], got {pct_start}")
        lr_maxs = spread_lr(lr_max, self.n_groups)
        moms = tuple(moms) if moms is not None else self.moms
        if len(moms) != 3:
            raise ValueError(f"moms must be 3 values (start, middle, end), got {moms!r}")

        def sched(step: int, total: int):
            lrs = [schedules.one_cycle_lr(step, total, m, pct_start, div, div_final) for m in lr_maxs]
            return lrs, schedules.one_cycle_mom(step, total, moms, pct_start)

        args = {
            "method": "fit_one_cycle",
            "n_epochs": n_epochs,
            "lr": _encode_lr(lr_max),
            "pct_start": pct_start,
            "div": div,
            "div_final": div_final,
            "moms": list(moms),
        }
        self._fit(n_epochs, sched, args, resume)

    def fit_stlr(
        self,
        n_epochs: int,
        lr_max: float | slice = 1e-3,
        cut_frac: float = 0.1,
        ratio: float = 32.0,
        mom: float | None = None,
        resume: str | os.PathLike | None = None,
    ) -> None:
        """ULMFiT's slanted triangular LR (per group, scaled by its max lr) with a constant momentum
        ``mom`` (default ``moms[0]``; the paper fine-tunes with Adam beta1 = 0.7)."""
        if not 0 < cut_frac < 1:
            raise ValueError(f"cut_frac must be in (0, 1), got {cut_frac}")
        lr_maxs = spread_lr(lr_max, self.n_groups)
        mom = self.moms[0] if mom is None else float(mom)

        def sched(step: int, total: int):
            return [schedules.slanted_triangular_lr(step, total, m, cut_frac, ratio) for m in lr_maxs], mom

        args = {
            "method": "fit_stlr",
            "n_epochs": n_epochs,
            "lr": _encode_lr(lr_max),
            "cut_frac": cut_frac,
            "ratio": ratio,
            "mom": mom,
        }
        self._fit(n_epochs, sched, args, resume)

    def lr_find(self, start_lr: float = 1e-7, end_lr: float = 10.0, num_it: int = 100, stop_div: bool = True):
        """Exponential LR sweep; see ``ulmfit.train.lr_finder.lr_find``."""
        return lr_find(self, start_lr=start_lr, end_lr=end_lr, num_it=num_it, stop_div=stop_div)

    # ------------------------------------------------------------------ the loop
    def _fit(self, n_epochs: int, sched: Callable, fit_args: dict, resume) -> None:
        if isinstance(n_epochs, bool) or not isinstance(n_epochs, int) or n_epochs < 1:
            raise ValueError(f"n_epochs must be an integer >= 1, got {n_epochs!r}")
        n_batches = len(self.train_dl)
        if n_batches == 0:
            raise ValueError("train_dl is empty (len 0): nothing to train on; check the data and batch size")
        self.n_epochs, self.total_steps = n_epochs, n_epochs * n_batches
        self._fit_args = fit_args
        if self.opt is None:
            self.create_opt()
        start_epoch, start_batch, rng, gen_states, carried = 0, 0, None, [], {}
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.resuming = resume is not None
        if resume is not None:
            start_epoch, start_batch, rng, gen_states, carried = self._load_for_resume(resume, fit_args)
        self.prepare_ddp()
        self.stop_training = False
        self.epoch = start_epoch
        try:
            self._cb("before_fit")
            for epoch in range(start_epoch, n_epochs):
                self.epoch, self._epoch_done = epoch, False
                here = resume is not None and epoch == start_epoch
                if here and start_batch == 0 and rng is not None:
                    set_rng_state(rng)
                self._cb("before_epoch")
                self._train_epoch(
                    sched,
                    skip=start_batch if here else 0,
                    rng=rng if here and start_batch > 0 else None,
                    gen_states=gen_states if here else [],
                    carried=carried if here and start_batch > 0 else None,
                )
                self.epoch_metrics = {"epoch": epoch, "train_loss": self._train_loss}
                if self.valid_dl is not None:
                    self.epoch_metrics.update(self.validate())
                self.epoch_metrics["time"] = round(time.time() - self._epoch_t0, 3)
                self.history.append(dict(self.epoch_metrics))
                self._epoch_done = True
                self._cb("after_epoch")
                if self.stop_training:
                    break
            self._cb("after_fit")
        finally:
            for cb in self.cbs:
                cb.close()
            self.training = False
            self.resuming = False

    def prepare_ddp(self) -> None:
        """(Re)wrap the model in DistributedDataParallel under torchrun (a no-op otherwise)."""
        if not is_distributed():
            self.ddp_model = None
            return
        from torch.nn.parallel import DistributedDataParallel

        ids = (
            [self.device.index if self.device.index is not None else torch.cuda.current_device()]
            if self.device.type == "cuda"
            else None
        )
        self.ddp_model = DistributedDataParallel(self.model, device_ids=ids, **self.ddp_kwargs)

    def _set_epoch(self, dl, epoch: int) -> None:
        for obj in (
            dl,
            getattr(dl, "sampler", None),
            getattr(getattr(dl, "batch_sampler", None), "sampler", None),
        ):
            fn = getattr(obj, "set_epoch", None)
            if callable(fn):
                fn(epoch)
                return

    def _train_epoch(self, sched: Callable, skip: int, rng: dict | None, gen_states: list,
                     carried: dict | None = None) -> None:
        self._epoch_t0 = time.time()
        self.training = True
        self.model.train()
        if hasattr(self.model, "reset"):
            self.model.reset()
        self._cb("before_train")
        self._set_epoch(self.train_dl, self.epoch)
        gens = _loader_generators(self.train_dl)
        for g, s in zip(gens, gen_states):
            g.set_state(s)
        self._epoch_gen_states = [g.get_state() for g in gens]
        it = iter(self.train_dl)
        for _ in range(skip):
            next(it)
        if rng is not None:
            set_rng_state(rng)
        if carried is not None:  # the state the interrupted run carried into its next batch
            for name, module in _recurrent_modules(self.model):
                module.set_recurrent_state(carried.get(name))
        self.batch_in_epoch = skip
        # running sum on the device (no per-step host sync); resumed epochs start from the saved partial sum
        self._loss_sum = torch.tensor(self._resume_loss[0] if skip else 0.0, dtype=torch.float64)
        self._loss_sum = self._loss_sum.to(self.device)
        self._loss_count = int(self._resume_loss[1]) if skip else 0
        for batch in it:
            lrs, mom = sched(self.step, self.total_steps)
            self.set_hparams(lrs, mom)
            self.one_batch(batch)
            self.step += 1
            self.batch_in_epoch += 1
            if self._loss_ok:  # a skipped non-finite step is counted in n_nonfinite, not averaged in
                self._loss_sum += self.loss.detach().double()
                self._loss_count += 1
            self._cb("after_batch")
            if self.stop_training:
                break
        self._cb("after_train")
        total, count = all_reduce_sum([float(self._loss_sum), float(self._loss_count)], self.device)
        self._train_loss = total / count if count else math.nan

    def _forward(self, model: nn.Module, xb):
        return model(*xb) if isinstance(xb, (tuple, list)) else model(xb)

    def pred_of(self, out):
        """The predictions in a model's output ``out`` (its first element when it is a tuple), in fp32 under
        mixed precision."""
        pred = out[0] if isinstance(out, (tuple, list)) else out
        return pred.float() if self.mp.enabled and pred is not None and pred.is_floating_point() else pred

    def loss_of(self, out, pred) -> torch.Tensor:
        """``loss_func`` of ``pred`` against ``self.yb``; a loss that computes the predictions itself (LMLoss's
        chunked softmax) gets the whole output ``out``."""
        return self.loss_func(out if getattr(self.loss_func, "takes_output", False) else pred, self.yb)

    def one_batch(self, batch) -> None:
        """One step on ``batch`` (a pair ``(x, y)``): forward, loss, and when ``learn.training`` backward and
        an optimizer step through the non-finite guard; every batch event fires. The LR finder runs on it."""
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise TypeError(
                f"a batch must be a pair (x, y); got {type(batch).__name__}"
                + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "")
            )
        self.xb, self.yb = _to_device(batch[0], self.device), _to_device(batch[1], self.device)
        self._cb("before_batch")
        model = self.ddp_model if (self.training and self.ddp_model is not None) else self.model
        # running statistics (BatchNorm) change in the forward pass: keep a copy to undo a skipped step's
        stats = [b.detach().clone() for b in _running_stats(self.model)] if self.training else []
        with self.mp.autocast():
            self.out = self._forward(model, self.xb)
        self.pred = self.pred_of(self.out)
        self._cb("after_pred")
        self.loss = self.loss_of(self.out, self.pred)
        self._cb("after_loss")
        if not self.training:
            return
        self.mp.backward(self.loss)
        self._cb("before_step")
        params = [p for pg in self.opt.param_groups for p in pg["params"] if p.grad is not None]
        if self.clip is not None:
            self.mp.unscale_(self.opt)
            grad_norm = nn.utils.clip_grad_norm_(params, self.clip)
        elif self.mp.scaler is None:
            grad_norm = torch.linalg.vector_norm(
                torch.stack([torch.linalg.vector_norm(p.grad.detach().float()) for p in params])
            ) if params else torch.zeros((), device=self.device)
        else:
            grad_norm = None  # fp16: the GradScaler finds overflowing gradients itself
        loss_ok = torch.isfinite(self.loss.detach()).all()
        finite = loss_ok & torch.isfinite(grad_norm) if self.mp.scaler is None else loss_ok
        self._loss_ok, finite = bool(loss_ok), bool(finite)  # one host sync per step (fp16's scaler syncs too)
        if self.mp.scaler is not None:
            self.step_skipped = not self.mp.step(self.opt)
        else:
            if finite:
                self.opt.step()
            self.step_skipped = not finite
        if not finite:  # the batch that broke the step must not live on in the running statistics either
            with torch.no_grad():
                for buf, saved in zip(_running_stats(self.model), stats):
                    buf.copy_(saved)
        self.n_skipped += int(self.step_skipped)
        self.n_nonfinite += int(not finite)
        self._bad_streak = 0 if finite else self._bad_streak + 1
        self._cb("after_step")
        self.opt.zero_grad(set_to_none=True)
        if self._bad_streak >= self.max_bad_steps:
            self._diverged()

    def reset_guard(self) -> None:
        """Forget the current run of non-finite steps (the counters ``n_skipped``/``n_nonfinite`` stay)."""
        self._bad_streak = 0

    def _diverged(self) -> None:
        lrs = sorted({float(pg["lr"]) for pg in self.opt.param_groups})
        where = f"step {self.step + 1} (epoch {self.epoch + 1}, batch {self.batch_in_epoch + 1})"
        last = f"last good checkpoint: {self.last_checkpoint}" if self.last_checkpoint else "no checkpoint was written"
        raise TrainingDivergedError(
            f"training diverged: {self._bad_streak} consecutive steps with a non-finite loss or gradient, the "
            f"last at {where}, learning rate(s) {', '.join(f'{v:.3g}' for v in lrs)}; {last}. Try a lower "
            "learning rate, gradient clipping (clip=, --clip) or fp32 precision"
        )

    # ------------------------------------------------------------------ validation
    def metric_names(self) -> list[str]:
        """Keys of ``epoch_metrics``: epoch, train_loss, then valid_loss and metric names if validating."""
        names = ["epoch", "train_loss"]
        if self.valid_dl is not None:
            names += ["valid_loss"] + [metric_name(m) for m in self.metrics]
        return names + ["time"]

    @torch.no_grad()
    def validate(self, dl=None) -> dict[str, float]:
        """Loss and metrics on ``dl`` (default ``valid_dl``), averaged over batches weighted by the
        number of targets, and over ranks under DDP: ``{"valid_loss": ..., name: ...}``."""
        dl = dl if dl is not None else self.valid_dl
        if dl is None:
            raise ValueError("validate() needs a loader: pass dl= or give the Learner a valid_dl")
        was_training = self.training
        self.training = False
        self.model.eval()
        if hasattr(self.model, "reset"):
            self.model.reset()
        self._cb("before_validate")
        batch_metrics = [m for m in self.metrics if not getattr(m, "from_valid_loss", False)]
        # weighted sums stay on the device: no host sync per batch
        sums = torch.zeros(1 + len(batch_metrics), dtype=torch.float64, device=self.device)
        weight = 0.0
        try:
            for batch in dl:
                self.one_batch(batch)
                w = _batch_weight(self.yb)
                sums[0] += self.loss.detach().double() * w
                for i, m in enumerate(batch_metrics, 1):
                    sums[i] += torch.as_tensor(m(self.pred, self.yb), dtype=torch.float64).to(self.device) * w
                weight += w
                self._cb("after_batch")
        finally:
            self.training = was_training
            if was_training:
                self.model.train()
        *sums, weight = all_reduce_sum([*sums.tolist(), weight], self.device)
        if weight == 0:
            raise ValueError("the validation loader yielded no batches")
        res = {"valid_loss": sums[0] / weight}
        it = iter(sums[1:])
        for m in self.metrics:
            res[metric_name(m)] = (
                float(m(res["valid_loss"])) if getattr(m, "from_valid_loss", False) else next(it) / weight
            )
        self.valid_metrics = res
        self._cb("after_validate")
        return res

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, path: str | os.PathLike) -> Path | None:
        """Write model, optimizer, scaler, schedule position, RNG states and fit arguments atomically.
        Only rank 0 writes under DDP (returns None on other ranks)."""
        if not self.is_main:
            return None
        model_state = self.model.state_dict()
        if nonfinite_keys(model_state):
            warn(
                f"not writing checkpoint {path}: the model's weights contain NaN/inf "
                f"(last good checkpoint: {self.last_checkpoint or 'none'})"
            )
            return None
        done = self._epoch_done
        gens = _loader_generators(self.train_dl)
        state = {
            "format": CHECKPOINT_FORMAT,
            "model": model_state,
            "optimizer": self.opt.state_dict() if self.opt is not None else None,
            "scaler": self.mp.state_dict(),
            "position": {
                "epoch": self.epoch + 1 if done else self.epoch,
                "batch_in_epoch": 0 if done else self.batch_in_epoch,
                "step": self.step,
                "total_steps": self.total_steps,
                # this rank's partial training-loss sum of the interrupted epoch
                "epoch_loss": [0.0, 0] if done else [float(self._loss_sum), self._loss_count],
            },
            "fit_args": self._fit_args,
            "rng": get_rng_state(),
            # generator states from which the resumed epoch's order is rebuilt
            "loader_generators": [g.get_state() for g in gens] if done else list(self._epoch_gen_states),
            "requires_grad": [p.requires_grad for p in self.model.parameters()],
            # state carried into the next batch of this epoch (the next epoch starts from a reset)
            "recurrent_state": {} if done else {
                name: module.get_recurrent_state() for name, module in _recurrent_modules(self.model)
            },
            "counters": {"n_skipped": self.n_skipped, "n_nonfinite": self.n_nonfinite},
            "precision": self.precision,
            "history": list(self.history),
            "callbacks": {
                f"{i}:{type(cb).__name__}": cb.state_dict()
                for i, cb in enumerate(self.cbs)
                if callable(getattr(cb, "state_dict", None))
            },
        }
        self.last_checkpoint = atomic_save(state, path)
        return self.last_checkpoint

    def load_checkpoint(self, path: str | os.PathLike) -> dict:
        """Load weights, optimizer and scaler state (not the position) from a checkpoint; returns it."""
        ckpt = load_checkpoint(path, map_location=self.device)
        check_state_dict(self.model, ckpt["model"], path)
        self.model.load_state_dict(ckpt["model"])
        flags = ckpt.get("requires_grad")
        params = list(self.model.parameters())
        if flags is not None and len(flags) == len(params):
            for p, f in zip(params, flags):
                p.requires_grad_(bool(f))
        if ckpt.get("optimizer") is not None:
            self.create_opt()
            try:
                self.opt.load_state_dict(ckpt["optimizer"])
            except (ValueError, KeyError) as e:
                raise ValueError(
                    f"optimizer state in checkpoint {path} does not fit this model's parameter groups: {e}"
                ) from e
        self.mp.load_state_dict(ckpt.get("scaler") or {})
        return ckpt

    def _load_for_resume(self, path, fit_args: dict):
        ckpt = load_checkpoint(path, map_location="cpu")
        saved = ckpt.get("fit_args")
        if saved is not None and saved != fit_args:
            diff = {
                k: (saved.get(k), fit_args.get(k))
                for k in set(saved) | set(fit_args)
                if saved.get(k) != fit_args.get(k)
            }
            raise ValueError(
                f"resume={path} was written by a different fit call; differing arguments "
                f"(checkpoint, now): {diff}"
            )
        pos = ckpt["position"]
        if pos["total_steps"] != self.total_steps:
            raise ValueError(
                f"resume={path}: checkpoint run has {pos['total_steps']} total steps but this "
                f"fit has {self.total_steps} (different epochs or train loader length)"
            )
        self.load_checkpoint(path)
        self.step = pos["step"]
        self._resume_loss = tuple(pos.get("epoch_loss", (0.0, 0)))
        self.history = [dict(h) for h in ckpt.get("history", [])]
        counters = ckpt.get("counters") or {}
        self.n_skipped = int(counters.get("n_skipped", 0))
        self.n_nonfinite = int(counters.get("n_nonfinite", 0))
        saved_cbs = ckpt.get("callbacks") or {}
        for i, cb in enumerate(self.cbs):
            key = f"{i}:{type(cb).__name__}"
            if key in saved_cbs and callable(getattr(cb, "load_state_dict", None)):
                cb.load_state_dict(saved_cbs[key])
        return (pos["epoch"], pos["batch_in_epoch"], ckpt["rng"], ckpt.get("loader_generators") or [],
                ckpt.get("recurrent_state") or {})
