"""Train an XResNet on Imagenette / Imagewoof (or any train/ + val/ image folder) from scratch.

A thin script over ``vision.learner.train`` (the function behind ``ulmfit-vision train``), with the
defaults of fastai's Imagenette example: 5 epochs of one-cycle at 128 px, batch size 64.

    python scripts/train_imagenette.py                                   # imagenette-160, xresnet50
    python scripts/train_imagenette.py --data imagewoof-320 --size 192 --epochs 20 --mixup 0.2 \\
        --label-smoothing 0.1 --precision fp16 --channels-last --out vision-runs/woof

All flags are those of ``ulmfit-vision train`` (run with --help); ``--data`` defaults to imagenette-160
and ``--out`` to vision-runs/<data>-<arch> (git-ignored). The archive (~100 MB for the 160 px version) is
downloaded once
into the cache (``$ULMFIT_HOME``, default ~/.cache/ulmfit); a copy placed in its downloads/ folder is
used without network access.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vision.cli import main  # noqa: E402


def run(argv: list[str]) -> int:
    args = list(argv)
    if "-h" in args or "--help" in args:
        return main(["train", "--help"])
    if not any(a == "--data" or a.startswith("--data=") for a in args):
        args = ["--data", "imagenette-160", *args]
    return main(["train", *args])  # --out: the command's own default, vision-runs/<data>-<arch>


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
