"""Training throughput (images/s) of the vision models on the shared training core.

Each configuration trains through ``ulmfit.train.Learner`` (AdamW, one-cycle, the same step as real
training) on one synthetic batch repeated, so the figure measures model + optimizer + core, not image
decoding. The first ``--warmup`` steps are not timed.

    # CPU: xresnet18 at 64 and 128 px next to torchvision's resnet18 (same run, same settings)
    flock /tmp/heavy.lock .venv/bin/python scripts/benchmark_vision.py --mode cpu
    # GPU: xresnet50 at 128 px, fp32 vs fp16 vs fp16 + channels_last
    .venv/bin/python scripts/benchmark_vision.py --mode gpu --json gpu.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ulmfit.train import Callback, Learner  # noqa: E402
from vision import xresnet18, xresnet50  # noqa: E402
from vision.learner import ChannelsLast  # noqa: E402


class _StepTimer(Callback):
    """Records the wall time at the end of each training step (synchronising CUDA)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def after_batch(self, learn) -> None:
        if learn.training:
            if learn.device.type == "cuda":
                torch.cuda.synchronize(learn.device)
            self.times.append(time.perf_counter())


def _tv_resnet18(n_out: int) -> nn.Module:
    import torchvision

    return torchvision.models.resnet18(weights=None, num_classes=n_out)


MODELS = {"xresnet18": xresnet18, "xresnet50": xresnet50, "torchvision resnet18": _tv_resnet18}


def measure(arch: str, size: int, bs: int, steps: int, warmup: int, device: str, precision: str = "fp32",
            channels_last: bool = False) -> dict:
    """Images/s of training steps ``warmup+1 .. warmup+steps``."""
    torch.manual_seed(0)
    model = MODELS[arch](n_out=10)
    x = torch.randn(bs, 3, size, size, device=device)
    y = torch.randint(0, 10, (bs,), device=device)
    timer = _StepTimer()
    cbs: list[Callback] = [timer] + ([ChannelsLast()] if channels_last else [])
    learn = Learner(model, [(x, y)] * (warmup + steps), loss_func=nn.CrossEntropyLoss(), precision=precision,
                    callbacks=cbs, progress=False, device=device)
    learn.fit_one_cycle(1, 1e-3)
    t = timer.times
    secs = t[-1] - t[warmup - 1] if warmup > 0 else t[-1] - t[0]
    n_timed = steps if warmup > 0 else steps - 1
    return {"arch": arch, "size": size, "bs": bs, "precision": precision, "channels_last": channels_last,
            "device": device, "timed_steps": n_timed, "images_per_s": round(n_timed * bs / secs, 1),
            "ms_per_step": round(1000 * secs / n_timed, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--bs", type=int, default=None, help="batch size (default: 32 on CPU, 128 on GPU)")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default: 6 on CPU, 50 on GPU)")
    p.add_argument("--warmup", type=int, default=None, help="untimed first steps (default: 2 CPU, 10 GPU)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--rounds", type=int, default=None,
                   help="measure every configuration this many times, interleaved, and report the best "
                        "(least disturbed) and the median (default: 3 on CPU, 1 on GPU)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = args.mode == "gpu"
    if gpu and not torch.cuda.is_available():
        print("--mode gpu needs a CUDA device; none is available", file=sys.stderr)
        return 2
    bs = args.bs or (128 if gpu else 32)
    steps = args.steps or (50 if gpu else 6)
    warmup = args.warmup if args.warmup is not None else (10 if gpu else 2)
    if gpu:
        torch.backends.cudnn.benchmark = True
        configs = [("xresnet50", 128, "fp32", False), ("xresnet50", 128, "fp16", False),
                   ("xresnet50", 128, "fp16", True), ("xresnet50", 128, "bf16", True)]
        device = "cuda"
        where = torch.cuda.get_device_name()
    else:
        configs = [(a, s, "fp32", False) for s in (64, 128) for a in ("xresnet18", "torchvision resnet18")]
        device = "cpu"
        where = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads"
    print(f"# training throughput on {where}; torch {torch.__version__}; bs {bs}, {steps} timed steps "
          f"after {warmup} warm-up steps")
    rounds = args.rounds or (1 if gpu else 3)
    runs: dict[int, list[dict]] = {i: [] for i in range(len(configs))}
    for rnd in range(rounds):  # interleaved, so that a burst of load elsewhere hits every config alike
        for i, (arch, size, precision, cl) in enumerate(configs):
            r = measure(arch, size, bs, steps, warmup, device, precision, cl)
            runs[i].append(r)
            print(f"  round {rnd + 1}/{rounds}: {arch} {size}px {precision}{' channels_last' if cl else ''}: "
                  f"{r['images_per_s']} images/s", file=sys.stderr, flush=True)
    print(f"{rounds} round(s); best and median images/s over the rounds")
    print("| model | size | precision | channels_last | images/s (best) | images/s (median) | ms/step (best) |")
    print("|---|---|---|---|---|---|---|")
    results = []
    for i, (arch, size, precision, cl) in enumerate(configs):
        ips = sorted(r["images_per_s"] for r in runs[i])
        best = max(runs[i], key=lambda r: r["images_per_s"])
        res = {**best, "images_per_s_median": ips[len(ips) // 2], "rounds": [r["images_per_s"] for r in runs[i]]}
        results.append(res)
        print(f"| {arch} | {size} | {precision} | {'yes' if cl else 'no'} | {best['images_per_s']} | "
              f"{res['images_per_s_median']} | {best['ms_per_step']} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"device": where, "torch": torch.__version__, "results": results},
                                              indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
