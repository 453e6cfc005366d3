"""Mixed precision with ``torch.amp``: ``"fp32"`` (off), ``"fp16"`` (autocast + dynamic loss scaling
with ``GradScaler``), ``"bf16"`` (autocast, no scaler)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch

__all__ = ["PRECISIONS", "MixedPrecision"]

PRECISIONS = ("fp32", "fp16", "bf16")
_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


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
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        self.device_type = torch.device(self.device).type
        if self.precision == "bf16" and self.device_type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError("precision='bf16' is not supported by this GPU; use 'fp16' or 'fp32'")
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
