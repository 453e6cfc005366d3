"""Image classification on the shared training core: the training recipe behind ``ulmfit-vision train``,
fastai's ``fine_tune``, saved model folders, prediction and evaluation.

A saved model folder holds ``model.pt`` (a state_dict, read with ``weights_only=True``) and
``config.json`` (``kind`` "image_classifier": architecture, classes, image size, normalisation and the
training config), so it is rebuilt without unpickling anything. A folder written by :func:`train` also
holds the run's record (``metrics.csv``, ``steps.csv``, ``report.html``: see :mod:`vision.run_record`);
the manifest lists them all.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ulmfit.config_checks import FRACTION, INT_GE0, INT_GE1, NON_NEGATIVE, POSITIVE, SEED
from ulmfit.train import Callback, Learner, Stage, TrainingLog, accuracy, seed_everything
from ulmfit.train.precision import PRECISIONS, check_precision
from vision.evaluation import check_classes, evaluate_model
from vision.head import TransferModel, transfer_model
from vision.losses import LabelSmoothingCrossEntropy
from vision.mixup import MixUp
from vision.run_record import RECORD_FILES, data_facts, readable_evaluation, run_summary, write_run_record
from vision.weights import fetch_weights, weights_entry
from vision.xresnet import XRESNET_ARCHS

__all__ = [
    "KIND",
    "ChannelsLast",
    "VisionTrainConfig",
    "build_model",
    "evaluate",
    "fine_tune",
    "load_model",
    "predict",
    "save_model",
    "train",
]

KIND = "image_classifier"


class ChannelsLast(Callback):
    """Run the model and its inputs in ``torch.channels_last`` memory format (faster convs with
    tensor cores under fp16/bf16)."""

    def before_fit(self, learn) -> None:
        learn.model.to(memory_format=torch.channels_last)

    def before_batch(self, learn) -> None:
        if isinstance(learn.xb, torch.Tensor) and learn.xb.dim() == 4:
            learn.xb = learn.xb.contiguous(memory_format=torch.channels_last)


def fine_tune(
    learn: Learner,
    epochs: int,
    base_lr: float = 2e-3,
    freeze_epochs: int = 1,
    lr_mult: float = 100.0,
    pct_start: float = 0.3,
    div: float = 5.0,
) -> None:
    """fastai's transfer recipe: train the head (body frozen, BatchNorm kept trainable) for
    ``freeze_epochs`` with one-cycle ``pct_start=0.99``; then halve ``base_lr``, unfreeze and train
    ``epochs`` with ``slice(base_lr / lr_mult, base_lr)``, ``pct_start``, ``div``.

    Each fit runs as a named :class:`~ulmfit.train.Stage` ("head only (frozen body)", "all layers"): the
    progress header and a :class:`~ulmfit.train.TrainingLog` show them.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
    n_groups, n_stages = learn.n_groups, 2 if freeze_epochs > 0 else 1
    learn.freeze()
    if freeze_epochs > 0:
        learn.stage = Stage("head only (frozen body)", 0, n_stages, epochs=freeze_epochs,
                            trainable=f"1 of {n_groups}", lrs=(base_lr, base_lr))
        learn.fit_one_cycle(freeze_epochs, slice(base_lr), pct_start=0.99)
    base_lr /= 2
    learn.unfreeze()
    learn.stage = Stage("all layers", n_stages - 1, n_stages, epochs=epochs, trainable=f"{n_groups} of {n_groups}",
                        lrs=(base_lr / lr_mult if n_groups > 1 else base_lr, base_lr))
    learn.fit_one_cycle(epochs, slice(base_lr / lr_mult, base_lr), pct_start=pct_start, div=div)


# --------------------------------------------------------------------------- model folders


def _model_spec(model: nn.Module) -> dict[str, Any]:
    """What ``build_model`` needs to rebuild ``model`` (set by ``build_model`` as ``model.spec``)."""
    spec = getattr(model, "spec", None)
    if not isinstance(spec, dict):
        raise ValueError("save_model needs a model made by vision.learner.build_model (it carries a .spec "
                         f"describing the architecture); got {type(model).__name__}")
    return spec


def build_model(
    arch: str,
    n_out: int,
    *,
    transfer: bool = False,
    weights: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    head: dict | None = None,
    arch_kwargs: dict | None = None,
) -> nn.Module:
    """An XResNet trained from scratch (``transfer=False``) or a body + :func:`create_head` model.

    ``weights`` (torchvision ResNets) and ``checkpoint`` (our saved folder) imply ``transfer=True``.
    ``checkpoint``: a folder written by :func:`save_model` holding an ``arch`` model; its body (and split
    point, if it was itself a transfer model) gets a new head for ``n_out`` classes, whatever its own number.
    The returned model carries ``.spec``, the JSON description that :func:`save_model` writes.
    """
    head = dict(head or {})
    arch_kwargs = dict(arch_kwargs or {})
    transfer = transfer or weights is not None or checkpoint is not None
    if not transfer:
        if arch not in XRESNET_ARCHS:
            raise ValueError(f"arch {arch!r} can be trained from scratch only if it is one of "
                             f"{sorted(XRESNET_ARCHS)}; torchvision ResNets go through transfer (weights=...)")
        model: nn.Module = XRESNET_ARCHS[arch](n_out=n_out, **arch_kwargs)
    elif checkpoint is not None:
        saved, config = load_model(checkpoint)
        if config["arch"] != arch:
            raise ValueError(f"checkpoint {checkpoint!s} holds a {config['arch']!r} model, not {arch!r}")
        arch_kwargs = dict(config.get("arch_kwargs") or {})  # rebuildable later without the checkpoint
        if isinstance(saved, TransferModel):  # a fine-tuned model: its body and its split, a new head
            model = transfer_model(saved.body, n_out, split_at=saved.split_at, **head)
        else:
            model = transfer_model(saved, n_out, **head)
    else:
        model = transfer_model(arch, n_out, weights=weights, **head, **arch_kwargs)
    model.spec = {"arch": arch, "n_out": n_out, "transfer": transfer, "head": head, "arch_kwargs": arch_kwargs}
    return model


def save_model(
    folder: str | os.PathLike,
    model: nn.Module,
    classes: Sequence[str],
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    class_names: dict[str, str] | None = None,
    train_config: dict | None = None,
    extra_files: Sequence[str] = (),
) -> Path:
    """Write ``model.pt`` + ``config.json`` into ``folder`` (created), then the manifest of those and of
    ``extra_files`` (names of files already written into ``folder``, e.g. the run record)."""
    from ulmfit.hub.model_folder import check_output_folder, save_state, write_config, write_manifest

    spec = _model_spec(model)
    if len(classes) != spec["n_out"]:
        raise ValueError(f"classes has {len(classes)} names but the model has n_out={spec['n_out']}")
    folder = check_output_folder(folder, own=tuple(extra_files))  # a new, empty or saved model's folder
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}  # channels_last -> plain layout
    save_state(folder, state)
    write_config(folder, KIND, {
        **spec,
        "classes": list(classes),
        "class_names": dict(class_names or {}),
        "size": int(size),
        "mean": [float(m) for m in mean],
        "std": [float(s) for s in std],
        "c_in": 3,
        "train": dict(train_config or {}),
    })
    names = ["model.pt", "config.json"]
    write_manifest(folder, names + [n for n in extra_files if n not in names])  # last: an interrupted save is refused
    return folder


def load_model(folder: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a saved model (eval mode, CPU) and return it with its config."""
    from ulmfit.hub.model_folder import ModelFolderError, folder_path, load_state, read_config

    folder = folder_path(folder)
    config = read_config(folder, KIND)
    missing = [k for k in ("arch", "n_out", "classes", "size", "mean", "std") if k not in config]
    if missing:
        raise ModelFolderError(f"{folder}/config.json lacks {missing}")
    model = build_model(config["arch"], config["n_out"], transfer=config.get("transfer", False),
                        head=config.get("head"), arch_kwargs=config.get("arch_kwargs"))
    state = load_state(folder)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ModelFolderError(f"{folder}/model.pt does not fit a {config['arch']!r} model: {err}") from err
    return model.eval(), config


# --------------------------------------------------------------------------- training


@dataclass
class VisionTrainConfig:
    """``ulmfit-vision train`` options (the CLI maps its flags onto these fields)."""

    data: str  # built-in name (imagenette-160, imagewoof-320, ...), train/+val/ folder, archive, or hf:NAME
    # xresnet18..152 (from scratch), resnet18.. with weights= (torchvision); None: xresnet50, or the
    # architecture of the `pretrained` folder
    arch: str | None = None
    size: int = 128  # image side in pixels
    epochs: int = 5
    bs: int = 64
    lr: float = 3e-3  # one-cycle max lr (base_lr of fine_tune for transfer)
    mixup: float = 0.0  # MixUp Beta alpha; 0 = off
    label_smoothing: float = 0.0  # eps; 0 = plain cross entropy
    precision: str = "fp32"  # fp32 | fp16 | bf16
    channels_last: bool = False
    out: str | None = None  # model folder to write (None: nothing is saved; the CLI defaults it)
    wd: float = 1e-2
    workers: int | None = None  # DataLoader worker processes (None: up to 8)
    seed: int = 42  # seeds python, numpy, torch and the loaders before the model is built
    weights: str | None = None  # torchvision weights name for a resnet* arch (needs internet)
    pretrained: str | None = None  # our saved model folder: reuse its body, new head, fine_tune
    freeze_epochs: int = 1  # head-only epochs of fine_tune (transfer only)
    device: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        checks = [
            ("size", isinstance(self.size, int) and self.size >= 8, "an int >= 8"),
            ("epochs", isinstance(self.epochs, int) and self.epochs >= 1, "an int >= 1"),
            ("bs", isinstance(self.bs, int) and self.bs >= 2, "an int >= 2 (BatchNorm needs 2 samples)"),
            ("lr", POSITIVE[0](self.lr), POSITIVE[1]),
            ("mixup", NON_NEGATIVE[0](self.mixup), f"{NON_NEGATIVE[1]} (0 = off)"),
            ("label_smoothing", FRACTION[0](self.label_smoothing), "in [0, 1)"),
            ("precision", self.precision in PRECISIONS, f"one of {PRECISIONS}"),
            ("wd", NON_NEGATIVE[0](self.wd), NON_NEGATIVE[1]),
            ("freeze_epochs", INT_GE0[0](self.freeze_epochs), INT_GE0[1]),
            ("data", isinstance(self.data, (str, os.PathLike)) and bool(str(self.data).strip()),
             "a built-in name, an image folder, an archive or hf:NAME (a str or path)"),
            ("out", self.out is None or isinstance(self.out, (str, os.PathLike)), "None or a folder path"),
            ("workers", self.workers is None or INT_GE0[0](self.workers), f"None or {INT_GE0[1]}"),
            ("seed", SEED[0](self.seed), SEED[1]),
            ("channels_last", isinstance(self.channels_last, bool), "True or False"),
            ("progress", isinstance(self.progress, bool), "True or False"),
        ]
        for name, ok, accepted in checks:
            if not ok:
                raise ValueError(f"{name} must be {accepted}, got {getattr(self, name)!r}")
        if self.arch is None and self.pretrained is None:
            self.arch = "xresnet50"
        if self.weights is None and self.pretrained is None and self.arch not in XRESNET_ARCHS:
            raise ValueError(f"arch {self.arch!r} needs weights= (torchvision's pretrained weights) or "
                             f"pretrained=MODEL_DIR; only {sorted(XRESNET_ARCHS)} train from scratch")
        if self.weights is not None and self.arch in XRESNET_ARCHS:
            raise ValueError(f"arch {self.arch!r} has no pretrained weights (weights={self.weights!r}): leave weights= "
                             "out to train it from scratch, or start from a saved model folder with "
                             "pretrained=MODEL_DIR")

    @classmethod
    def from_dict(cls, d: dict) -> VisionTrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown training options {unknown}; accepted: {sorted(known)}")
        return cls(**d)


def train(config: VisionTrainConfig, **learner_kwargs) -> tuple[Learner, Path | None]:
    """Train an image classifier as configured; save it to ``config.out`` if set.

    From scratch: one-cycle over ``epochs`` (stage "train"). With ``weights``/``pretrained``:
    :func:`fine_tune` (stages "head only (frozen body)", "all layers"). The saved folder holds the model,
    and the run's record: ``metrics.csv`` and ``steps.csv`` of every stage, ``report.html`` with the
    validation confusion matrix and per-class scores (computed on the whole validation set at the end).
    Returns the learner and the saved folder (None without ``out``, and on non-zero DDP ranks).
    """
    from ulmfit.train.distributed import barrier, is_main_process, setup_distributed
    from vision.data import image_data

    check_precision(config.precision, config.device)  # fp16 without a GPU fails now, before any data is read
    if config.out is not None:  # a file or a folder of other files as out= fails now too, not after training
        from ulmfit.hub.model_folder import check_output_folder

        check_output_folder(config.out, "out", own=RECORD_FILES)
    tv_weights = None  # a misspelt torchvision weights name fails now too (pretrained= reuses a body instead)
    if config.weights is not None and config.pretrained is None and config.arch not in XRESNET_ARCHS:
        tv_weights = weights_entry(config.arch, config.weights)
    setup_distributed(config.device)  # under torchrun: join the group now, so rank 0 downloads alone
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if not is_main_process():
        barrier()  # wait until rank 0 has downloaded / extracted the data (and the weights)
    elif tv_weights is not None:  # into torch's cache before the data: offline, this fails at once, in one line
        fetch_weights(tv_weights, config.weights, config.arch)
    data = image_data(config.data, config.size, config.bs, workers=config.workers, device=device, seed=config.seed)
    if is_main_process():
        barrier()
    n_out = len(data.classes)
    arch = config.arch
    if config.pretrained is not None and arch is None:
        from ulmfit.hub.model_folder import read_config

        arch = read_config(Path(config.pretrained), KIND)["arch"]
    seed_everything(config.seed)  # before the model is built: same seed -> same initial weights
    model = build_model(arch, n_out, weights=config.weights, checkpoint=config.pretrained)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss: nn.Module = (LabelSmoothingCrossEntropy(config.label_smoothing) if config.label_smoothing > 0
                       else nn.CrossEntropyLoss())
    log = TrainingLog()
    cbs: list[Callback] = [log]
    if config.mixup > 0:
        cbs.append(MixUp(config.mixup))
    if config.channels_last:
        cbs.append(ChannelsLast())
    learn = Learner(model, data.train, data.valid, loss_func=loss, metrics=[accuracy], wd=config.wd,
                    precision=config.precision, callbacks=cbs, path=config.out, progress=config.progress,
                    device=config.device, seed=config.seed, **learner_kwargs)  # None: cuda:LOCAL_RANK under DDP
    start = time.time()
    if isinstance(model, TransferModel):
        fine_tune(learn, config.epochs, config.lr, freeze_epochs=config.freeze_epochs)
    else:
        learn.stage = Stage("train", 0, 1, epochs=config.epochs, lrs=(config.lr, config.lr))
        learn.fit_one_cycle(config.epochs, config.lr)
    seconds = time.time() - start
    saved = None
    if config.out is not None and learn.is_main:
        # the whole validation set, unsharded, on this rank: the report's confusion matrix and per-class scores
        evaluation = evaluate_model(learn.model, data.valid.dataset, data.classes, device=learn.device,
                                    bs=config.bs, workers=data.valid.num_workers)
        record = write_run_record(
            config.out, log.as_dict(), title=f"Image classifier: {arch} on {Path(str(config.data)).name}",
            config=asdict(config), data=data_facts(data), evaluation=readable_evaluation(evaluation, data.class_names),
            summary=run_summary(evaluation, seconds))
        saved = save_model(config.out, learn.model, data.classes, data.size, data.mean, data.std,
                           class_names=data.class_names, train_config=asdict(config), extra_files=record)
    return learn, saved


# --------------------------------------------------------------------------- prediction and evaluation


@torch.no_grad()
def predict(
    model_dir: str | os.PathLike,
    images: Sequence[str | os.PathLike],
    *,
    device: str | None = None,
    bs: int = 32,
) -> list[dict[str, Any]]:
    """Classify image files with a saved model folder.

    Returns one dict per image: ``image``, ``label`` (class id), ``name`` (readable name if known),
    ``probability`` (softmax of the top class), ``probabilities`` (all classes, in ``classes`` order).
    """
    from vision.data import load_rgb, valid_transform

    if isinstance(images, (str, os.PathLike)):
        raise TypeError(f"images must be a list of image paths, got a single path ({str(images)!r}); wrap it in "
                        "a list")
    images = list(images)
    if not images:
        raise ValueError("predict needs at least one image path")
    if not INT_GE1[0](bs):
        raise ValueError(f"predict: bs must be {INT_GE1[1]}, got {bs!r}")
    model, config = load_model(model_dir)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    tfm = valid_transform(config["size"], config["mean"], config["std"])
    classes, names = config["classes"], config.get("class_names", {})
    out: list[dict[str, Any]] = []
    for i in range(0, len(images), bs):
        chunk = [str(p) for p in images[i : i + bs]]
        for p in chunk:
            if Path(p).is_dir():
                raise IsADirectoryError(f"{p!r} is a folder; give image files (a shell glob such as "
                                        f"{str(Path(p) / '*.jpg')!r} names the images in it)")
            if not Path(p).is_file():
                raise FileNotFoundError(f"image file {p!r} does not exist")
        x = torch.stack([tfm(load_rgb(p)) for p in chunk]).to(device)
        probs = torch.softmax(model(x).float(), dim=-1).cpu()
        for p, pr in zip(chunk, probs):
            k = int(pr.argmax())
            out.append({"image": p, "label": classes[k], "name": names.get(classes[k], classes[k]),
                        "probability": float(pr[k]), "probabilities": [float(v) for v in pr]})
    return out


def evaluate(
    model_dir: str | os.PathLike,
    data: str | os.PathLike,
    split: str = "valid",
    *,
    device: str | None = None,
    bs: int = 64,
    workers: int | None = None,
) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1, macro F1 and the confusion matrix of a saved model folder on
    one split of ``data`` (the dict of :func:`vision.evaluation.evaluate_model`).

    data: a built-in dataset name, a train/ + val/ folder, an image archive or ``hf:NAME``, as for training;
    its classes must be the model's (:func:`vision.evaluation.check_classes`). split: ``"valid"`` (the split
    training validates on), ``"train"`` or another split's name (:func:`vision.data.image_split`). Images get
    the model's validation transform (resize, centre crop, its normalisation). workers: DataLoader processes
    (None: up to 8).
    """
    from vision.data import image_split, valid_transform

    if not isinstance(bs, int) or bs < 1:
        raise ValueError(f"bs (batch size) must be a positive int, got {bs!r}")
    model, config = load_model(model_dir)
    tfm = valid_transform(config["size"], config["mean"], config["std"])
    dataset, data_classes, _ = image_split(data, split, tfm)
    check_classes(config["classes"], data_classes, str(model_dir), str(data))
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    workers = min(8, os.cpu_count() or 1) if workers is None else workers
    return evaluate_model(model.to(device), dataset, config["classes"], data_classes=data_classes, device=device,
                          bs=bs, workers=workers)
