"""The ``ulmfit-vision`` command: ``train`` an image classifier, ``predict`` with a saved one.

    ulmfit-vision train --data imagenette-160 --arch xresnet50 --size 128 --epochs 5 --bs 64 --lr 3e-3 \\
        --mixup 0.2 --label-smoothing 0.1 --precision fp16 --channels-last --out models/nette
    ulmfit-vision predict models/nette img1.jpg img2.jpg [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    from vision.data import DATASETS

    p = argparse.ArgumentParser(prog="ulmfit-vision", description="XResNet image classification on ulmfit's core.")
    p.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
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
    t.add_argument("--out", default=None, help="model folder to write (model.pt + config.json + metrics.csv)")
    t.add_argument("--wd", type=float, default=1e-2, help="weight decay (default 1e-2)")
    t.add_argument("--n-workers", "--workers", dest="workers", type=int, default=None,
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
    t.add_argument("--quiet", "--no-progress", dest="no_progress", action="store_true",
                   help="no progress bars / per-epoch lines")

    pr = sub.add_parser("predict", help="classify image files with a saved model folder")
    pr.add_argument("model_dir", help="a folder written by `ulmfit-vision train --out`")
    pr.add_argument("images", nargs="+", help="image files")
    pr.add_argument("--json", action="store_true", help="print one JSON object per line")
    pr.add_argument("--device", default=None)
    return p


def _train(args: argparse.Namespace) -> int:
    from vision.learner import VisionTrainConfig, train

    config = VisionTrainConfig(
        data=args.data, arch=args.arch, size=args.size, epochs=args.epochs, bs=args.bs, lr=args.lr,
        mixup=args.mixup, label_smoothing=args.label_smoothing, precision=args.precision,
        channels_last=args.channels_last, out=args.out, wd=args.wd, workers=args.workers, seed=args.seed,
        weights=args.weights, pretrained=args.pretrained, freeze_epochs=args.freeze_epochs, device=args.device,
        progress=not args.no_progress,
    )
    learn, saved = train(config)
    if learn.history and learn.is_main:
        last = {k: round(v, 4) if isinstance(v, float) else v for k, v in learn.history[-1].items()}
        print(f"final: {last}")
    if saved is not None:
        print(f"saved model folder: {saved}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from vision.learner import predict

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
    return run_command("ulmfit-vision", args.command, lambda: _train(args) if args.command == "train"
                       else _predict(args), debug=args.debug)

if __name__ == "__main__":
    sys.exit(main())
