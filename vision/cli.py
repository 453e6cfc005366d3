"""The ``ulmfit-vision`` command: ``train`` an image classifier, ``predict`` and ``evaluate`` with a saved one.

    ulmfit-vision train --data imagenette-160 --arch xresnet50 --size 128 --epochs 5 --bs 64 --lr 3e-3 \\
        --mixup 0.2 --label-smoothing 0.1 --precision fp16 --channels-last --out models/nette
    ulmfit-vision predict models/nette img1.jpg img2.jpg [--json]
    ulmfit-vision evaluate models/nette --data imagenette-160 [--split valid] [--json]

``train`` without ``--out`` saves into ``vision-runs/<data folder name>-<arch>`` under the working directory
(:func:`default_out`); the folder holds the model, ``metrics.csv``, ``steps.csv`` and ``report.html``.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from ulmfit.cli_config import add_deterministic_option, int_in, prepare_process
from ulmfit.cli_errors import allow_debug_anywhere, in_flag_terms
from ulmfit.errors import UlmfitError, UsageError
from ulmfit.version import __version__

__all__ = ["DEFAULT_RUNS", "build_parser", "default_out", "main"]

DEFAULT_RUNS = "vision-runs"  # train's default --out parent, relative to the working directory
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


def default_out(data: str, arch: str) -> Path:
    """``vision-runs/<data folder name>-<arch>``: ``imgs/`` -> ``vision-runs/imgs-xresnet50``,
    ``imagenette-160`` -> ``vision-runs/imagenette-160-xresnet50``, ``hf:frgfm/imagenette`` ->
    ``vision-runs/frgfm-imagenette-xresnet50``; an archive's name loses its suffix."""
    if data.startswith("hf:"):
        name = data[3:].strip("/").replace("/", "-")
    else:
        path = Path(data).expanduser()
        name = path.name or path.resolve().name
        name = next((name[: -len(s)] for s in _ARCHIVE_SUFFIXES if name.endswith(s) and len(name) > len(s)), name)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "data"
    return Path(DEFAULT_RUNS) / f"{name}-{arch}"


# the API keywords that are flags of `train` too (freeze_epochs reads --frozen-epochs)
_FLAG_FIELDS = ("device", "precision", "weights", "pretrained", "size", "epochs", "bs", "lr", "mixup",
                "label_smoothing", "wd", "freeze_epochs", "seed")


def _as_flags(err: Exception) -> str:
    """The API's one-line message with its keywords (``device='cuda'``) spelt as this command's flags."""
    message = re.sub(r"^arch '([^']*)'", lambda m: f"--arch {m[1]}", str(err))
    return in_flag_terms(message, _FLAG_FIELDS, renames={"freeze_epochs": "frozen_epochs"})


def _check_device(precision: str, device: str | None) -> None:
    """A --device / --precision this machine cannot run fails here, in one line, before any work."""
    from ulmfit.train.precision import check_precision

    try:
        check_precision(precision, device)
    except ValueError as err:
        raise UsageError(_as_flags(err)) from None


def build_parser() -> argparse.ArgumentParser:
    from vision.data import DATASETS

    p = argparse.ArgumentParser(prog="ulmfit-vision", description="XResNet image classification on ulmfit's core.")
    p.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train an image classifier and save it as a model folder")
    t.add_argument("--data", required=True,
                   help=f"built-in dataset ({', '.join(DATASETS)}), a folder with train/ and val/ "
                        "(one subfolder per class), an image archive, or hf:NAME")
    t.add_argument("--arch", default=None,
                   help="xresnet18|34|50|101|152 (from scratch; default xresnet50), or a torchvision resnet* "
                        "with --weights")
    t.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    t.add_argument("--epochs", type=int, default=5)
    t.add_argument("--bs", type=int, default=64, help="batch size (default 64)")
    t.add_argument("--lr", type=float, default=3e-3, help="one-cycle max learning rate (default 3e-3)")
    t.add_argument("--mixup", type=float, default=0.0, help="MixUp Beta alpha, e.g. 0.2 (default 0: off)")
    t.add_argument("--label-smoothing", type=float, default=0.0, help="label smoothing eps (default 0)")
    t.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default="fp32")
    t.add_argument("--channels-last", action="store_true", help="channels_last memory format (GPU speed-up)")
    t.add_argument("--out", default=None,
                   help="model folder to write: model.pt, config.json, metrics.csv, steps.csv, report.html "
                        f"(default: {DEFAULT_RUNS}/<data folder name>-<arch> in the working directory)")
    t.add_argument("--wd", type=float, default=1e-2, help="weight decay (default 1e-2)")
    t.add_argument("--n-workers", "--workers", dest="workers", type=int_in(0), default=None,
                   help="DataLoader worker processes (default: up to 8)")
    t.add_argument("--seed", type=int, default=42,
                   help="seeds everything before the model is built: same seed, data and threads -> same model "
                        "(default 42)")
    t.add_argument("--weights", default=None,
                   help="torchvision weights for a resnet* arch, e.g. IMAGENET1K_V1 (downloads; fine-tunes)")
    t.add_argument("--pretrained", default=None,
                   help="a model folder saved by this command: reuse its body with a new head (fine-tunes)")
    t.add_argument("--frozen-epochs", "--freeze-epochs", dest="freeze_epochs", type=int, default=1,
                   help="head-only epochs when fine-tuning (default 1)")
    t.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    add_deterministic_option(t)
    t.add_argument("--quiet", "--no-progress", dest="no_progress", action="store_true",
                   help="no progress bars / per-epoch lines")

    pr = sub.add_parser("predict", help="classify image files with a saved model folder")
    pr.add_argument("model_dir", help="a folder written by `ulmfit-vision train --out`")
    pr.add_argument("images", nargs="+", help="image files")
    pr.add_argument("--json", action="store_true", help="print one JSON object per line")
    pr.add_argument("--device", default=None)

    ev = sub.add_parser("evaluate", help="accuracy, per-class precision/recall/F1 and the confusion matrix of a "
                                         "saved model folder on one split of an image source")
    ev.add_argument("model_dir", help="a folder written by `ulmfit-vision train`")
    ev.add_argument("--data", required=True,
                    help="the labelled images, as for train: a built-in dataset, a folder with train/ and val/, "
                         "an image archive, or hf:NAME (its classes must be the model's)")
    ev.add_argument("--split", default="valid",
                    help="valid (default: the split training validates on, val/ valid/ validation/ or test/), "
                         "train, or the name of another split folder / Hugging Face split")
    ev.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    ev.add_argument("--bs", type=int, default=64, help="batch size (default 64)")
    ev.add_argument("--n-workers", "--workers", dest="workers", type=int_in(0), default=None,
                    help="DataLoader worker processes (default: up to 8)")
    ev.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    allow_debug_anywhere(sub)
    return p


def _train_arch(args: argparse.Namespace) -> str:
    """The architecture train will use: --arch, else that of the --pretrained folder, else xresnet50."""
    if args.arch is not None:
        return args.arch
    if args.pretrained is None:
        return "xresnet50"
    from ulmfit.hub.model_folder import read_config
    from vision.learner import KIND

    return read_config(Path(args.pretrained), KIND)["arch"]  # a bad folder fails here, in one line


def _train(args: argparse.Namespace) -> int:
    from ulmfit.cli_prog import runnable
    from ulmfit.hub.model_folder import check_output_folder
    from vision.learner import VisionTrainConfig, train
    from vision.run_record import RECORD_FILES

    _check_device(args.precision, args.device)
    out = args.out if args.out is not None else str(default_out(args.data, _train_arch(args)))
    check_output_folder(out, "--out", own=RECORD_FILES)  # before any data is read or any epoch is trained
    try:
        config = VisionTrainConfig(
            data=args.data, arch=args.arch, size=args.size, epochs=args.epochs, bs=args.bs, lr=args.lr,
            mixup=args.mixup, label_smoothing=args.label_smoothing, precision=args.precision,
            channels_last=args.channels_last, out=out, wd=args.wd, workers=args.workers, seed=args.seed,
            weights=args.weights, pretrained=args.pretrained, freeze_epochs=args.freeze_epochs, device=args.device,
            progress=not args.no_progress,
        )
        learn, saved = train(config)
    except (ValueError, UlmfitError) as err:  # the API's keywords (weights='...') as the flags typed here
        message = _as_flags(err)
        if message == str(err):
            raise
        raise type(err)(message) if isinstance(err, UlmfitError) else UsageError(message) from None
    if learn.history and learn.is_main:
        last = {k: round(v, 4) if isinstance(v, float) else v for k, v in learn.history[-1].items()}
        epoch = last.pop("epoch")  # 0-based in the history; the epoch lines above count from 1
        print(f"final (epoch {epoch + 1}): {last}")
    if saved is not None:
        print(f"saved model folder: {saved} (model.pt, config.json)\n"
              f"metrics: {saved / 'metrics.csv'}, {saved / 'steps.csv'}\n"
              f"report: {saved / 'report.html'}\n"
              f"evaluate with: {runnable('ulmfit-vision')} evaluate {shlex.quote(str(saved))} "
              f"--data {shlex.quote(args.data)}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from ulmfit.evaluation import format_metrics
    from vision.learner import evaluate

    _check_device("fp32", args.device)
    metrics = evaluate(args.model_dir, args.data, args.split, device=args.device, bs=args.bs, workers=args.workers)
    if args.json:
        print(json.dumps(metrics, indent=2, allow_nan=False))  # finite: evaluate refuses an empty split
        return 0
    print(f"{args.model_dir} on {args.data}, split {args.split}: {metrics['n']} images")
    print(format_metrics(metrics))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from vision.learner import predict

    _check_device("fp32", args.device)
    for r in predict(args.model_dir, args.images, device=args.device):
        if args.json:
            print(json.dumps({k: r[k] for k in ("image", "label", "name", "probability")}))
        else:
            label = r["label"] if r["name"] == r["label"] else f"{r['label']} ({r['name']})"
            print(f"{r['image']}\t{label}\t{r['probability']:.4f}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ulmfit-vision``; returns the exit status: a user error (bad argument, file, folder,
    offline download) prints one line and returns 2, as ``ulmfit`` does (``--debug``: the traceback)."""
    from ulmfit.cli_errors import run_command

    args = build_parser().parse_args(argv)
    command = {"train": _train, "predict": _predict, "evaluate": _evaluate}[args.command]
    prepare_process(args, training=args.command == "train")
    return run_command("ulmfit-vision", args.command, lambda: command(args), debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
