"""Validation shared by the training configs (``LMFineTuneConfig``, ``LMPretrainConfig``,
``ClassifierConfig``): each config checks every field in ``__post_init__``, so a typo fails before any
data is read, and overrides with unknown names are refused with the list of valid ones."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from typing import Any

__all__ = ["ConfigValueError", "check_config", "with_overrides", "INT_GE0", "INT_GE1", "POSITIVE", "NON_NEGATIVE",
           "FRACTION", "MOMS", "SEED", "DEVICE", "optional", "one_of"]


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    """A finite int or float: NaN and inf are no learning rate, weight decay or dropout."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


INT_GE0 = (lambda v: _is_int(v) and v >= 0, "an int >= 0")
INT_GE1 = (lambda v: _is_int(v) and v >= 1, "an int >= 1")
POSITIVE = (lambda v: _is_num(v) and v > 0, "a finite number > 0")
NON_NEGATIVE = (lambda v: _is_num(v) and v >= 0, "a finite number >= 0")
FRACTION = (lambda v: _is_num(v) and 0 <= v < 1, "a fraction in [0, 1)")
MOMS = (lambda v: isinstance(v, (tuple, list)) and len(v) == 3 and all(_is_num(m) and 0 <= m < 1 for m in v),
        "3 momentums in [0, 1), e.g. (0.8, 0.7, 0.8)")
SEED = (lambda v: _is_int(v) and 0 <= v < 2**32, "an int in [0, 2**32)")
DEVICE = (lambda v: v is None or (isinstance(v, str) and re.fullmatch(r"cpu|cuda(:\d+)?|mps", v) is not None),
          "None, 'cpu', 'cuda' or 'cuda:N'")


def optional(rule):
    check, accepted = rule
    return (lambda v: v is None or check(v), f"None or {accepted}")


def one_of(*values):
    return (lambda v: v in values, "one of " + ", ".join(repr(x) for x in values))


def check_config(config: Any, rules: dict[str, tuple]) -> None:
    """Raise ``ValueError`` naming the first field whose value its rule rejects, and what is accepted."""
    name = type(config).__name__
    for field, (check, accepted) in rules.items():
        value = getattr(config, field)
        if not check(value):
            raise ConfigValueError(f"{name}.{field}={value!r} is not accepted; expected {accepted}",
                                   field=field, value=value, accepted=accepted)


class ConfigValueError(ValueError):
    """A config field's value is refused; ``field``, ``value`` and ``accepted`` let a CLI say it with its flag."""

    def __init__(self, message: str, *, field: str, value: Any, accepted: str):
        super().__init__(message)
        self.field, self.value, self.accepted = field, value, accepted


def with_overrides(config: Any, overrides: dict[str, Any]) -> Any:
    """``dataclasses.replace(config, **overrides)`` with a clear error for unknown names (then validated)."""
    valid = [f.name for f in dataclasses.fields(config)]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        close = [match[0] for name in unknown if (match := difflib.get_close_matches(name, valid, n=1))]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(f"unknown {type(config).__name__} option(s) {unknown}{hint}; valid options: "
                         f"{', '.join(valid)}")
    return dataclasses.replace(config, **overrides)
