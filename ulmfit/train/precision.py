"""Mixed precision with ``torch.amp``: ``"fp32"`` (off), ``"fp16"`` (autocast + dynamic loss scaling
with ``GradScaler``), ``"bf16"`` (autocast, no scaler).

:func:`check_precision` says in one line, before any work, when a precision/device combination cannot run
(fp16 without a CUDA GPU, bf16 on a GPU without it, a CUDA device on a machine without one).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch

__all__ = ["PRECISIONS", "MixedPrecision", "check_precision", "resolve_precision"]

PRECISIONS = ("fp32", "fp16", "bf16")
AUTO = "auto"  # a config value resolved by :func:`resolve_precision`
_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def _cpu_has_bf16() -> str:
    """``"yes"`` when this CPU has bfloat16 instructions (AVX512-BF16 or AMX); bf16 autocast runs on any CPU,
    but without them it is emulated and slow."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    probes = [f for f in probes if f is not None]
    if not probes:  # private torch helpers: they may move in a later release
        return "unknown"
    try:
        return "yes" if any(f() for f in probes) else "no"
    except Exception:  # pragma: no cover - a probe that cannot run says nothing about the CPU
        return "unknown"


def resolve_precision(precision: str, device: str | torch.device | None = None) -> str:
    """``"auto"`` -> the fastest precision that trains well on ``device``; any other value unchanged.

    On a CUDA GPU bf16 when it supports it, else fp16 (with loss scaling). On a CPU bf16 only with AMX
    tiles: with AVX512-BF16 alone, bf16 matmuls run no faster than fp32 and the casts make a training step
    slower (measured on this project's 2-core Xeon: 0.80x of fp32 for the LM), so fp32.
    """
    if precision != AUTO:
        return precision
    dev = _resolve_device(device)
    if dev.type == "cuda" and torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return "bf16" if dev.type == "cpu" and amx is not None and amx() else "fp32"
    except Exception:  # pragma: no cover - a private probe that cannot run says nothing
        return "fp32"


def _resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a ``torch.device``; None is the Learner's default (cuda when available, else cpu)."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise ValueError(f"device must be None, a str such as 'cpu' or 'cuda:0', or a torch.device, "
                         f"got {type(device).__name__} ({device!r})")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ValueError(f"device={device!r} is not a torch device; use 'cpu', 'cuda' or 'cuda:N'") from None


def check_precision(precision: str, device: str | torch.device | None = None, *,
                    allow_cpu_fp16: bool = False) -> None:
    """Raise a one-line ``ValueError`` now, before any work, if ``precision`` cannot run on ``device``.

    precision: one of :data:`PRECISIONS`.
    device: where the model will run; None means cuda when available, else cpu (as :class:`Learner` picks).
    allow_cpu_fp16: accept fp16 on a CPU. torch can autocast to float16 and scale the loss there, slowly
        and with no memory or speed benefit; the training entry points refuse it, the low-level
        :class:`MixedPrecision` (and the Learner's tests) use it.

    Checked: the precision name; a CUDA device asked for on a machine without one (or an index past the
    visible GPUs); fp16 on a CPU; bf16 on a GPU without bfloat16 support.
    """
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    dev = _resolve_device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={str(device)!r} but no CUDA GPU is available; use device='cpu'")
        n_gpus = torch.cuda.device_count()
        if dev.index is not None and dev.index >= n_gpus:
            raise ValueError(f"device={str(device)!r} but only {n_gpus} CUDA GPU(s) are visible "
                             f"(cuda:0 .. cuda:{n_gpus - 1}); use one of those or device='cuda'")
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            name = torch.cuda.get_device_name(dev)
            raise ValueError(f"precision='bf16' is not supported by this GPU ({name}); use 'fp16' or 'fp32'")
    elif dev.type == "cpu" and precision == "fp16" and not allow_cpu_fp16:
        raise ValueError(f"precision='fp16' needs a CUDA GPU (float16 autocast and loss scaling are GPU features "
                         f"here); on this CPU use 'bf16' (supported by this CPU: {_cpu_has_bf16()}) or 'fp32'")


@dataclass
class MixedPrecision:
    """Autocast context and (for fp16) a GradScaler for one device.

    ``scaler_kwargs`` go to ``torch.amp.GradScaler`` (init_scale 2**16, growth_factor 2, backoff_factor
    0.5, growth_interval 2000 by default).
    """

    precision: str = "fp32"
    device: torch.device | str = "cpu"
    scaler_kwargs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # fp16 on a CPU stays possible at this level (torch supports it); the training entry points refuse it.
        check_precision(self.precision, self.device, allow_cpu_fp16=True)
        self.device_type = torch.device(self.device).type
        self.dtype = _DTYPES.get(self.precision)
        self.scaler: torch.amp.GradScaler | None = None
        if self.precision == "fp16":
            self.scaler = torch.amp.GradScaler(self.device_type, **self.scaler_kwargs)

    @property
    def enabled(self) -> bool:
        return self.dtype is not None

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context for the forward pass (a no-op for fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.amp.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def unscale_(self, opt: torch.optim.Optimizer) -> None:
        """Unscale the gradients in place (before clipping); no-op without a scaler."""
        if self.scaler is not None:
            self.scaler.unscale_(opt)

    def step(self, opt: torch.optim.Optimizer) -> bool:
        """Step the optimizer (through the scaler for fp16); returns False when the step was skipped
        because a gradient was inf/NaN (the scale is then halved)."""
        if self.scaler is None:
            opt.step()
            return True
        before = self.scaler.get_scale()
        self.scaler.step(opt)
        self.scaler.update()
        return self.scaler.get_scale() >= before

    def state_dict(self) -> dict:
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
