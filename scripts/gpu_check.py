"""One command that checks a CUDA machine: training throughput, fp16 overflow handling and a DDP smoke run.

On the GPU machine, from the repository root (sized to finish well under 5 minutes on an H200)::

    python scripts/gpu_check.py --json-out gpu_check.json
    python scripts/gpu_check.py --sections lm,fp16            # only some sections
    python scripts/gpu_check.py --dry-run --json-out /tmp/g.json   # every section on CPU, tiny sizes (tests)

Sections (each runs on its own: a failure is recorded with its error and the others still run):

``lm``
    AWD-LSTM language-model training tokens/s (forward + loss + backward + Adam step, recurrent state
    carried) in fp32, fp16 (autocast + GradScaler) and bf16 (autocast), for our weight-dropped AWD-LSTM
    with every dropout on (``ulmfit.models``, chunked softmax, as ``ulmfit.LanguageModel`` trains) and for a
    plain cuDNN ``nn.LSTM`` stack of the same sizes, timed by ``scripts/benchmark_lm.py`` (CUDA-synchronised,
    warm-up steps untimed, best of ``lm_rounds`` rounds). Batches (64, 70) of a 30k vocabulary; emb 400 /
    hidden 1152 / 3 layers (fastai's AWD_LSTM). Also checks that training our model emits no cuDNN "RNN module
    weights are not part of single contiguous chunk of memory" warning, next to a deliberately
    non-contiguous LSTM call that must emit it (proof that the capture works).
``vision``
    XResNet50 training images/s on synthetic (64, 3, 128, 128) batches through ``ulmfit.train.Learner``, in
    fp32, fp16 and fp16 + channels_last, timed by ``scripts/benchmark_vision.py``.
``fp16``
    A tiny AWD-LSTM LM (vocab 128, emb 64 / hidden 128 / 2 layers, batches (32, 20)) trained through
    ``Learner(precision="fp16")`` on a repeated random token pattern, with a gradient entry set to inf
    before the optimizer step on chosen steps. Passes when the loss falls without NaN and every injected
    step is skipped: the Learner reports it skipped, the GradScaler's scale dropped, the weights did not move.
``ddp``
    ``torchrun --nproc_per_node 1`` (``--ddp-nproc``) runs this script's hidden ``--ddp-worker`` mode: the
    tiny LM trains one short epoch through the Learner with ``ulmfit.train.distributed`` (NCCL on CUDA,
    gloo on CPU) after an all-reduce check of the backend; reports success and the loss. With one process
    the Learner does not wrap the model in DistributedDataParallel (the library starts DDP for
    WORLD_SIZE > 1 only); ``--dry-run --ddp-nproc 2`` exercises the wrapper on CPU.

Output: a readable report on stdout and one JSON file (machine info, every figure, each section's status,
error and seconds), rewritten after every section so that a run cut short keeps what it measured.
``--dry-run`` runs every section on CPU with tiny sizes and 1-2 timed steps (fp16 parts are marked
"skipped: needs CUDA"; the fp16 run trains in fp32 through the Learner's own non-finite guard instead).
Without CUDA and without ``--dry-run`` the script says so in one line and exits with code 2. Exit code 1
when a section failed, 0 otherwise.

Imports nothing that needs spaCy or ``datasets``: the GPU machine has neither.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.metadata
import json
import math
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ulmfit.data.lm_loader import LMLoader  # noqa: E402
from ulmfit.models import AWDLSTMConfig, AWDLSTMLanguageModel, LMLoss, build_language_model  # noqa: E402
from ulmfit.train import Callback, Learner, setup_distributed  # noqa: E402

SECTIONS = ("lm", "vision", "fp16", "ddp")
NO_CUDA = "gpu_check: no CUDA GPU found; use --dry-run to exercise the script on CPU"
NEEDS_CUDA = "skipped: needs CUDA"
CONTIGUITY_WARNING = "not part of single contiguous chunk of memory"


@dataclass(frozen=True)
class Sizes:
    """Every size and step count of a run; :data:`GPU` and :data:`DRY_RUN` are the presets."""

    # lm: throughput of (lm_bs, lm_bptt) token batches; emb -> hid -> ... -> emb LSTM stack, tied decoder
    lm_vocab: int = 30_000
    lm_emb: int = 400  # fastai's AWD_LSTM
    lm_hid: int = 1152
    lm_layers: int = 3
    lm_bs: int = 64
    lm_bptt: int = 70  # the AWD-LSTM paper's; fastai uses 72
    lm_warmup: int = 3  # untimed steps per model and precision (cuDNN plans, allocator)
    lm_steps: int = 15  # timed steps per round
    lm_rounds: int = 2  # the best round is reported
    # vision: images/s of (vision_bs, 3, vision_px, vision_px) synthetic batches
    vision_arch: str = "xresnet50"
    vision_px: int = 128
    vision_bs: int = 64
    vision_warmup: int = 10  # includes cudnn.benchmark's autotuning
    vision_steps: int = 30
    # fp16 and ddp: a tiny AWD-LSTM LM on a repeated random pattern of run_period tokens, (run_bs, run_bptt)
    run_vocab: int = 128
    run_emb: int = 64
    run_hid: int = 128
    run_layers: int = 2
    run_bs: int = 32
    run_bptt: int = 20
    run_period: int = 37  # prime: the pattern does not line up with the bptt windows
    run_batches: int = 40  # per epoch
    run_epochs: int = 4
    run_lr: float = 1e-2  # one-cycle peak
    run_inject_at: tuple[int, ...] = (10, 50, 51, 100, 140)  # 0-based steps with an inf gradient; 2 in a row
    ddp_nproc: int = 1  # processes on this machine (one GPU: NCCL does not share a GPU between ranks)
    ddp_batches: int = 8  # one epoch
    ddp_timeout_s: int = 180


GPU = Sizes()
DRY_RUN = dataclasses.replace(
    GPU, lm_vocab=200, lm_emb=16, lm_hid=32, lm_layers=2, lm_bs=4, lm_bptt=8, lm_warmup=1, lm_steps=2,
    lm_rounds=1, vision_px=32, vision_bs=2, vision_warmup=1, vision_steps=1, run_vocab=64, run_emb=32,
    run_hid=64, run_bs=8, run_bptt=16, run_batches=20, run_epochs=3, run_lr=3e-2, run_inject_at=(5, 20, 21, 40),
    ddp_batches=2, ddp_timeout_s=120,
)


# ---------------------------------------------------------------------------------------------- helpers
def load_sibling(name: str):
    """Import ``scripts/NAME.py`` (a benchmark script whose timing code we reuse). Called inside the section
    that needs it, so that a sibling that breaks (or starts importing spaCy) fails that section alone."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    return importlib.import_module(name)


@contextmanager
def capture_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Record every warning raised inside (each occurrence: 'always', not Python's once per place)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def contiguity_messages(caught: list[warnings.WarningMessage]) -> list[str]:
    """The distinct cuDNN non-contiguous RNN weight warnings among ``caught``, with where they came from."""
    return sorted({f"{w.message} ({Path(w.filename).name}:{w.lineno})"
                   for w in caught if CONTIGUITY_WARNING in str(w.message)})


def noncontiguous_lstm_call(device: str) -> None:
    """One LSTM forward whose four weights are separate tensors: cuDNN must compact them and warns."""
    gen = torch.Generator().manual_seed(0)
    x, h = torch.randn(2, 3, 8, generator=gen), torch.zeros(1, 2, 8)
    weights = [torch.randn(32, 8, generator=gen), torch.randn(32, 8, generator=gen), torch.zeros(32), torch.zeros(32)]
    x, h, weights = x.to(device), h.to(device), [w.to(device) for w in weights]
    torch._VF.lstm(x, (h, h), weights, True, 1, 0.0, False, False, True)


def precision_skip(precision: str, device: str) -> str | None:
    """Why ``precision`` cannot be measured on ``device`` (None: it can)."""
    if precision == "fp16" and device != "cuda":
        return NEEDS_CUDA
    if precision == "bf16" and device == "cuda" and not torch.cuda.is_bf16_supported():
        return "skipped: this GPU has no bfloat16"
    return None


def pattern_stream(vocab: int, period: int, n_tokens: int, seed: int = 0) -> np.ndarray:
    """``n_tokens`` ids repeating one random pattern of ``period`` ids in ``2 .. vocab-1`` (0 and 1, unk and
    pad, left out): an LM can learn it, so its loss must fall."""
    rng = np.random.default_rng(seed)
    pattern = rng.integers(2, vocab, size=period)
    return np.resize(pattern, n_tokens).astype(np.int64)


def tiny_lm(sizes: Sizes) -> AWDLSTMLanguageModel:
    """The AWD-LSTM LM of the fp16 and ddp sections (LM dropouts on), training with the chunked softmax."""
    torch.manual_seed(0)
    cfg = AWDLSTMConfig(emb_sz=sizes.run_emb, n_hid=sizes.run_hid, n_layers=sizes.run_layers)
    model = build_language_model(sizes.run_vocab, cfg)
    model.chunked_softmax = True  # as ulmfit.LanguageModel trains
    return model


def tiny_lm_loader(sizes: Sizes, n_batches: int, world_size: int = 1) -> LMLoader:
    """``n_batches`` (run_bs, run_bptt) batches per rank of the pattern stream, sharded by
    ``torch.distributed``'s rank when a process group is up."""
    n_tokens = sizes.run_bs * world_size * sizes.run_bptt * n_batches + 1  # +1: the last target
    stream = pattern_stream(sizes.run_vocab, sizes.run_period, n_tokens)
    return LMLoader(stream, bs=sizes.run_bs, bptt=sizes.run_bptt, vocab_size=sizes.run_vocab)


def _gib(n_bytes: float) -> float:
    return round(n_bytes / 2**30, 2)


def machine_info(device: str) -> dict:
    """Device, library versions and CPU count: what the figures depend on."""
    info = {
        "device": device,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "torchvision": _version("torchvision"),
        "numpy": np.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "git_commit": _git_commit(),
    }
    if device != "cuda":
        info["device_name"] = f"CPU ({platform.processor() or platform.machine()})"
        return info
    props = torch.cuda.get_device_properties(0)
    info.update({
        "device_name": props.name,
        "device_count": torch.cuda.device_count(),
        "capability": f"{props.major}.{props.minor}",
        "gpu_memory_gib": _gib(props.total_memory),
        "bf16_supported": torch.cuda.is_bf16_supported(),
        # fp32 figures depend on these: TF32 tensor cores for matmuls and for cuDNN convs and RNNs
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
    })
    try:  # torch.cuda.nccl.version() was an int in older torch, a tuple now
        nccl = torch.cuda.nccl.version() if dist.is_nccl_available() else None
        info["nccl"] = ".".join(map(str, nccl)) if isinstance(nccl, tuple) else nccl
    except Exception as e:  # a missing NCCL is the ddp section's to report, not a reason to stop here
        info["nccl"] = f"unknown ({type(e).__name__}: {e})"
    return info


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:
        return None
    return res.stdout.strip() or None


# ---------------------------------------------------------------------------------------------- 1. lm
def section_lm(sizes: Sizes, device: str) -> dict:
    """Training tokens/s of ours vs plain per precision, and the cuDNN contiguity-warning check."""
    benchmark_lm = load_sibling("benchmark_lm")

    opts = argparse.Namespace(device=device, vocab=sizes.lm_vocab, bs=sizes.lm_bs, bptt=sizes.lm_bptt,
                              n_samples=1024, clock="wall", warmup=sizes.lm_warmup, steps=sizes.lm_steps,
                              rounds=sizes.lm_rounds, precision="fp32")
    size = dict(emb_sz=sizes.lm_emb, n_hid=sizes.lm_hid, n_layers=sizes.lm_layers)
    print(f"AWD-LSTM LM training, vocab {sizes.lm_vocab}, emb {sizes.lm_emb} / hidden {sizes.lm_hid} / "
          f"{sizes.lm_layers} layers, batch ({sizes.lm_bs}, {sizes.lm_bptt}); best of {sizes.lm_rounds} x "
          f"{sizes.lm_steps} steps after {sizes.lm_warmup} warm-up")
    print("| precision | ours tokens/s | plain nn.LSTM tokens/s | ours / plain |")
    print("|---|---:|---:|---:|")
    rows: dict[str, dict] = {}
    warned: dict[str, list[str]] = {"ours": [], "plain": []}
    errors = []
    for precision in ("fp32", "fp16", "bf16"):
        skip = precision_skip(precision, device)
        if skip == NEEDS_CUDA:
            skip += " (under CPU fp16 autocast the LSTM kernel fails in oneDNN)"
        if skip:
            rows[precision] = {"status": skip}
            print(f"| {precision} | {skip} | | |")
            continue
        row: dict = {"status": "ok"}
        for model in ("ours", "plain"):
            name = f"{model}@{precision}"
            try:
                with capture_warnings() as caught:
                    tps = benchmark_lm.measure_all([name], size, opts, "train")[name]
                warned[model] += contiguity_messages(caught)
                row[f"{model}_tokens_per_s"] = round(tps, 1)
            except Exception as e:  # one precision failing must not hide the others
                row["status"] = "failed"
                row[f"{model}_error"] = f"{type(e).__name__}: {e}"
                errors.append(f"{name}: {type(e).__name__}: {e}")
            _free_cuda(device)
        ours, plain = row.get("ours_tokens_per_s"), row.get("plain_tokens_per_s")
        row["ours_vs_plain"] = round(ours / plain, 3) if ours and plain else None
        rows[precision] = row
        print(f"| {precision} | {_fmt(ours)} | {_fmt(plain)} | {row['ours_vs_plain'] or '-'} |", flush=True)

    # The control: a call that must warn. It runs last: were the warning ever emitted once per process only,
    # a control run first would use that one time up and hide a warning of ours.
    with capture_warnings() as caught:
        noncontiguous_lstm_call(device)
    control = bool(contiguity_messages(caught))
    meaningful = device == "cuda"  # the warning comes from cuDNN; the CPU kernel never emits it
    result = {
        "shape": {"vocab": sizes.lm_vocab, "bs": sizes.lm_bs, "bptt": sizes.lm_bptt, **size},
        "timing": {"warmup": sizes.lm_warmup, "steps": sizes.lm_steps, "rounds": sizes.lm_rounds},
        "precisions": rows,
        "noncontiguous_warning": bool(warned["ours"]),
        "noncontiguous_warning_messages": sorted(set(warned["ours"])),
        "noncontiguous_warning_plain": bool(warned["plain"]),
        "warning_control_fired": control,
        "warning_check_meaningful": meaningful and control,
        "errors": errors,
        "passed": not errors and not warned["ours"],
    }
    verdict = "no" if not warned["ours"] else "YES"
    note = "" if meaningful else " (CPU: cuDNN not used, the check means something on CUDA only)"
    print(f"non-contiguous RNN weight warning while training ours: {verdict}{note}; "
          f"control call warned: {'yes' if control else 'no'}")
    for message in result["noncontiguous_warning_messages"]:
        print(f"  {message}")
    if meaningful and not control:
        print("  the control did not warn: this torch build may not emit the warning, so the check proves little")
    return result


def _fmt(x: float | None) -> str:
    return f"{x:,.0f}" if x else "-"


def _free_cuda(device: str) -> None:
    if device == "cuda":
        torch.cuda.empty_cache()


# ---------------------------------------------------------------------------------------------- 2. vision
def section_vision(sizes: Sizes, device: str) -> dict:
    """XResNet training images/s in fp32, fp16 and fp16 + channels_last."""
    benchmark_vision = load_sibling("benchmark_vision")

    configs = [("fp32", False), ("fp16", False), ("fp16", True)]
    print(f"{sizes.vision_arch} training, synthetic ({sizes.vision_bs}, 3, {sizes.vision_px}, {sizes.vision_px}) "
          f"batches, {sizes.vision_steps} timed steps after {sizes.vision_warmup} warm-up")
    print("| precision | channels_last | images/s | ms/step |")
    print("|---|---|---:|---:|")
    rows, errors = [], []
    was_benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = device == "cuda"  # as benchmark_vision's GPU mode: tuned conv algorithms
    try:
        for precision, channels_last in configs:
            row: dict = {"precision": precision, "channels_last": channels_last}
            skip = precision_skip(precision, device)
            if skip:
                row["status"] = skip
            else:
                try:
                    r = benchmark_vision.measure(sizes.vision_arch, sizes.vision_px, sizes.vision_bs,
                                                 sizes.vision_steps, sizes.vision_warmup, device, precision,
                                                 channels_last)
                    row.update(status="ok", images_per_s=r["images_per_s"], ms_per_step=r["ms_per_step"])
                except Exception as e:
                    row.update(status="failed", error=f"{type(e).__name__}: {e}")
                    errors.append(f"{precision}{' channels_last' if channels_last else ''}: {row['error']}")
                _free_cuda(device)
            rows.append(row)
            figures = (f"{row['images_per_s']:,.1f} | {row['ms_per_step']}" if "images_per_s" in row
                       else f"{row['status']} |")
            print(f"| {precision} | {'yes' if channels_last else 'no'} | {figures} |", flush=True)
    finally:
        torch.backends.cudnn.benchmark = was_benchmark
    return {"arch": sizes.vision_arch, "px": sizes.vision_px, "bs": sizes.vision_bs, "warmup": sizes.vision_warmup,
            "steps": sizes.vision_steps, "results": rows, "errors": errors, "passed": not errors}


# ---------------------------------------------------------------------------------------------- 3. fp16
class OverflowInjector(Callback):
    """Sets one gradient entry to inf before the optimizer step on the 0-based steps ``inject_at`` (what
    an fp16 overflow looks like to the scaler), and records each step's loss and, for the injected steps,
    whether the step was skipped, whether the loss scale dropped and whether the weights moved."""

    def __init__(self, inject_at: tuple[int, ...]):
        self.inject_at = set(inject_at)
        self.losses: list[float] = []
        self.injected: list[dict] = []
        self.scale_drops = 0  # steps after which the GradScaler's scale was lower than before
        self._scale_before: float | None = None
        self._snapshot: list[tuple[torch.Tensor, torch.Tensor]] = []

    def before_step(self, learn) -> None:
        scaler = learn.mp.scaler
        self._scale_before = scaler.get_scale() if scaler is not None else None
        if learn.step in self.inject_at:
            params = [p for p in learn.model.parameters() if p.grad is not None]
            self._snapshot = [(p, p.detach().clone()) for p in params]
            grad = params[0].grad
            grad[(0,) * grad.dim()] = math.inf

    def after_step(self, learn) -> None:
        self.losses.append(float(learn.loss.detach()))
        scaler = learn.mp.scaler
        scale_after = scaler.get_scale() if scaler is not None else None
        dropped = scale_after is not None and scale_after < self._scale_before
        self.scale_drops += int(dropped)
        if learn.step in self.inject_at:
            unchanged = all(torch.equal(p.detach(), before) for p, before in self._snapshot)
            self.injected.append({"step": learn.step, "skipped": learn.step_skipped, "weights_unchanged": unchanged,
                                  "scale_before": self._scale_before, "scale_after": scale_after})
            self._snapshot = []


def section_fp16(sizes: Sizes, device: str) -> dict:
    """The tiny LM trained in fp16 with injected overflows (fp32 with the Learner's guard on CPU)."""
    precision = "fp16" if device == "cuda" else "fp32"
    model = tiny_lm(sizes)
    injector = OverflowInjector(sizes.run_inject_at)
    learn = Learner(model, tiny_lm_loader(sizes, sizes.run_batches), loss_func=LMLoss(model), precision=precision,
                    callbacks=[injector], progress=False, device=device, seed=0)
    with capture_warnings() as caught:
        learn.fit_one_cycle(sizes.run_epochs, sizes.run_lr)
    contiguity = contiguity_messages(caught)

    losses = injector.losses
    window = max(1, min(10, len(losses) // 4))  # mean of the first / last steps: one step is noisy
    initial, final = float(np.mean(losses[:window])), float(np.mean(losses[-window:]))
    n_steps = len(losses)
    injected = injector.injected
    n_injected = len(injected)
    injected_skipped = sum(e["skipped"] for e in injected)
    all_finite = all(math.isfinite(v) for v in losses)
    weights_finite = all(torch.isfinite(p).all() for p in model.parameters())
    checks = {
        "loss_fell": final < 0.9 * initial,
        "losses_finite": all_finite,
        "weights_finite": bool(weights_finite),
        "every_injection_made": n_injected > 0 and n_injected == sum(s < n_steps for s in sizes.run_inject_at),
        "every_injected_step_skipped": injected_skipped == n_injected,
        "weights_unchanged_on_injected_steps": all(e["weights_unchanged"] for e in injected),
    }
    if precision == "fp16":
        checks["scale_dropped_on_injected_steps"] = all(e["scale_after"] < e["scale_before"] for e in injected)
    if device == "cuda":  # our LSTM under fp16 autocast and the Learner: cuDNN must see one weight chunk here too
        checks["no_noncontiguous_warning"] = not contiguity
    result = {
        "precision": precision,
        "shape": {"vocab": sizes.run_vocab, "emb_sz": sizes.run_emb, "n_hid": sizes.run_hid,
                  "n_layers": sizes.run_layers, "bs": sizes.run_bs, "bptt": sizes.run_bptt},
        "steps": n_steps,
        "initial_loss": round(initial, 4),
        "final_loss": round(final, 4),
        "loss_window": window,
        "injected_overflows": n_injected,
        "injected_steps": [e["step"] for e in injected],
        "injected_skipped": injected_skipped,
        "learner_n_skipped": learn.n_skipped,  # every skipped step, natural fp16 overflows included
        "learner_n_nonfinite": learn.n_nonfinite,  # of those: a non-finite loss (or, not fp16, gradient)
        "natural_skips": learn.n_skipped - injected_skipped,
        "scale_drops": injector.scale_drops if precision == "fp16" else None,
        "final_scale": learn.mp.scaler.get_scale() if learn.mp.scaler is not None else None,
        "injections": injected,
        "noncontiguous_warning": bool(contiguity),
        "noncontiguous_warning_messages": contiguity,
        "checks": checks,
        "passed": all(checks.values()),
    }
    if precision != "fp16":
        result["fp16"] = (f"{NEEDS_CUDA}; ran in fp32 instead, where the Learner's own non-finite guard "
                          "(not a GradScaler) skips the injected steps")
    print(f"tiny AWD-LSTM LM, {precision}, {n_steps} steps: loss {initial:.3f} -> {final:.3f} "
          f"(means of the first / last {window} steps)")
    print(f"injected overflows: {n_injected} at steps {result['injected_steps']}; skipped: {injected_skipped}; "
          f"Learner n_skipped {learn.n_skipped} (natural {result['natural_skips']}), n_nonfinite "
          f"{learn.n_nonfinite}" + (f"; scale drops {injector.scale_drops}, final scale {result['final_scale']:g}"
                                    if precision == "fp16" else ""))
    if "fp16" in result:
        print(f"fp16: {result['fp16']}")
    failed = [name for name, ok in checks.items() if not ok]
    print("checks: " + ("all passed" if not failed else "FAILED " + ", ".join(failed)))
    return result


# ---------------------------------------------------------------------------------------------- 4. ddp
def section_ddp(sizes: Sizes, device: str) -> dict:
    """Launch torchrun on this script's ``--ddp-worker`` mode and read back what rank 0 wrote."""
    with tempfile.TemporaryDirectory(prefix="gpu_check_ddp_") as tmp:
        out = Path(tmp) / "ddp.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(sizes.ddp_nproc),
               "--nnodes", "1", "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
               str(Path(__file__).resolve()), "--ddp-worker", str(out)] + (["--dry-run"] if device == "cpu" else [])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        env.setdefault("OMP_NUM_THREADS", "1")
        print(f"torchrun --nproc_per_node {sizes.ddp_nproc} ... --ddp-worker "
              f"({'nccl' if device == 'cuda' else 'gloo'} backend)", flush=True)
        try:
            proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True,
                                  timeout=sizes.ddp_timeout_s)
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"torchrun did not finish within {sizes.ddp_timeout_s} s: "
                               f"{_tail(e.stderr) or _tail(e.stdout)}") from None
        if proc.returncode != 0 or not out.is_file():
            raise RuntimeError(f"torchrun exited with code {proc.returncode}: "
                               f"{_tail(proc.stderr) or _tail(proc.stdout)}")
        result = json.loads(out.read_text())
    print(f"world size {result['world_size']}, backend {result['backend']}, device {result['device']}, "
          f"all-reduce ok: {result['all_reduce_ok']}, Learner wrapped in DDP: {result['ddp_wrapped']}")
    print(f"{result['steps']} steps, loss {result['first_loss']:.4f} -> {result['last_loss']:.4f}, "
          f"epoch train_loss {result['train_loss']:.4f} (all ranks)")
    if result.get("note"):
        print(f"note: {result['note']}")
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(text: str | bytes | None, n: int = 2000) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return (text or "").strip()[-n:]


class _LossRecorder(Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def after_step(self, learn) -> None:
        self.losses.append(float(learn.loss.detach()))


def ddp_worker(out: Path, dry_run: bool) -> int:
    """One torchrun rank: check the backend with an all-reduce, train the tiny LM one epoch through the
    Learner (which wraps it in DistributedDataParallel when there is more than one rank); rank 0 writes
    the result to ``out``."""
    sizes = DRY_RUN if dry_run else GPU
    use_cuda = not dry_run and torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = f"cuda:{local_rank}" if use_cuda else "cpu"
    if use_cuda:
        torch.cuda.set_device(local_rank)
    setup_distributed(device)  # the library's own setup: starts the process group when WORLD_SIZE > 1
    if not dist.is_initialized():  # one rank: the library trains without a group; start one to test the backend
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    t = torch.ones(1, device=device)
    dist.all_reduce(t)
    all_reduce_ok = float(t) == world

    model = tiny_lm(sizes)
    recorder = _LossRecorder()
    learn = Learner(model, tiny_lm_loader(sizes, sizes.ddp_batches, world), loss_func=LMLoss(model),
                    callbacks=[recorder], progress=False, device=device, seed=0)
    learn.fit_one_cycle(1, sizes.run_lr)
    losses = recorder.losses
    result = {
        "ok": all_reduce_ok and bool(losses) and all(math.isfinite(v) for v in losses),
        "world_size": world,
        "backend": str(dist.get_backend()),
        "device": device,
        "all_reduce_ok": all_reduce_ok,
        "ddp_wrapped": learn.ddp_model is not None,
        "steps": len(losses),
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "train_loss": learn.history[-1]["train_loss"],
        "passed": None,
    }
    result["passed"] = result["ok"] and (result["ddp_wrapped"] or world == 1)
    if world == 1:
        result["note"] = ("one process: the Learner trains without a DistributedDataParallel wrapper (the library "
                          "starts DDP for WORLD_SIZE > 1 only); the backend was checked with a direct all-reduce")
    if rank == 0:
        out.write_text(json.dumps(result, indent=2))
    dist.destroy_process_group()
    return 0


# ---------------------------------------------------------------------------------------------- driver
SECTION_FUNCS: dict[str, Callable[[Sizes, str], dict]] = {
    "lm": section_lm, "vision": section_vision, "fp16": section_fp16, "ddp": section_ddp,
}
TITLES = {"lm": "1. AWD-LSTM LM training throughput", "vision": "2. XResNet training throughput",
          "fp16": "3. fp16 training with injected overflows", "ddp": "4. DDP smoke run (torchrun)"}


def run_section(name: str, sizes: Sizes, device: str) -> dict:
    """Run one section; any exception is recorded (status "failed", error, traceback), never raised."""
    print(f"\n## {TITLES[name]}", flush=True)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    try:
        result = SECTION_FUNCS[name](sizes, device)
        status = "ok" if result.get("passed", True) else "failed"
    except Exception as e:
        result = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-4000:]}
        status = "failed"
        print(f"FAILED: {result['error']}")
    finally:
        _free_cuda(device)
    record = {"status": status, "seconds": round(time.perf_counter() - start, 2), **result}
    if device == "cuda":
        record["peak_gpu_memory_gib"] = _gib(torch.cuda.max_memory_allocated())
    return record


def parse_sections(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in SECTIONS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown section(s) {bad or text!r}; choose from {', '.join(SECTIONS)} "
                                         "as a comma list")
    return names


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json-out", default="gpu_check.json", help="where to write the JSON report")
    p.add_argument("--sections", type=parse_sections, default=list(SECTIONS),
                   help=f"comma list of {', '.join(SECTIONS)} (default: all)")
    p.add_argument("--dry-run", action="store_true", help="every section on CPU with tiny sizes (for tests)")
    p.add_argument("--ddp-nproc", type=int, default=None,
                   help="torchrun processes for the ddp section (default 1: one GPU)")
    p.add_argument("--ddp-worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.ddp_worker:
        return ddp_worker(Path(args.ddp_worker), args.dry_run)
    if not args.dry_run and not torch.cuda.is_available():
        print(NO_CUDA, file=sys.stderr)
        return 2
    if args.ddp_nproc is not None and args.ddp_nproc < 1:
        p.error(f"--ddp-nproc must be >= 1, got {args.ddp_nproc}")
    if not args.dry_run and (args.ddp_nproc or 1) > torch.cuda.device_count():
        p.error(f"--ddp-nproc {args.ddp_nproc} needs as many GPUs (NCCL runs one rank per GPU); "
                f"{torch.cuda.device_count()} visible")
    device = "cpu" if args.dry_run else "cuda"
    sizes = DRY_RUN if args.dry_run else GPU
    if args.ddp_nproc is not None:
        sizes = dataclasses.replace(sizes, ddp_nproc=args.ddp_nproc)

    start = time.perf_counter()
    machine = machine_info(device)
    print(f"# gpu_check on {machine['device_name']}: torch {machine['torch']}, CUDA {machine['cuda']}, "
          f"cuDNN {machine['cudnn']}, {machine['cpu_count']} CPUs" + (" (dry run: CPU, tiny sizes)" if args.dry_run
                                                                      else ""))
    report = {"kind": "gpu_check", "format_version": 1, "dry_run": args.dry_run,
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine,
              "sizes": dataclasses.asdict(sizes), "sections": {}}
    out = Path(args.json_out)
    for name in args.sections:
        report["sections"][name] = run_section(name, sizes, device)
        report["total_seconds"] = round(time.perf_counter() - start, 2)
        report["passed"] = all(s["status"] == "ok" for s in report["sections"].values())
        out.write_text(json.dumps(report, indent=2))  # after every section: a run cut short keeps its figures

    print("\n## Summary\n| section | status | seconds |\n|---|---|---:|")
    for name, record in report["sections"].items():
        status = record["status"] + (f" ({record['precision']} stand-in for fp16)"
                                     if record.get("fp16", "").startswith(NEEDS_CUDA) else "")
        print(f"| {name} | {status} | {record['seconds']} |")
    print(f"total {report['total_seconds']} s; JSON written to {out}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
