"""Command-line options generated from a config dataclass, so that the dataclass is the one source of
names, defaults and help: every field ``foo_bar`` becomes ``--foo-bar``, typed from its annotation, its help
taken from the comment beside the field and its default shown. Options left out keep the config's default
(their argparse default is None), so the CLI never restates a default by hand."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import types
import typing
from typing import Any

__all__ = ["add_config_options", "add_deterministic_option", "config_overrides", "field_comments", "int_in",
           "prepare_process"]


def field_comments(cls: type) -> dict[str, str]:
    """``{field: comment}`` from the ``name: type = default  # comment`` lines of the class source."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    found = {}
    for line in source.splitlines():
        m = re.match(r"\s+(\w+)\s*:[^=#]+(?:=[^#]*)?#\s*(.+)$", line)
        if m:
            found[m.group(1)] = m.group(2).strip()
    return found


def _tuple_of(kind: type, name: str):
    def parse(text: str) -> tuple:
        try:
            return tuple(kind(v) for v in text.split(","))
        except ValueError:
            example = "1,1,1,2" if kind is int else "0.8,0.7,0.8"
            raise argparse.ArgumentTypeError(
                f"invalid value {text!r}: expected comma-separated {kind.__name__}s, e.g. {example}") from None
    parse.__name__ = name
    return parse


def _base(annotation: Any) -> Any:
    """``int | None`` -> int; other annotations unchanged."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and args:
        return args[0]
    return annotation


def add_config_options(parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = (),
                       only: tuple[str, ...] | None = None, choices: dict[str, tuple] | None = None,
                       dest_prefix: str = "") -> None:
    """Add ``--field`` options for the fields of the dataclass ``cls`` (all, or ``only``, minus ``skip``)."""
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    choices = choices or {}
    for f in dataclasses.fields(cls):
        if f.name in skip or (only is not None and f.name not in only):
            continue
        kind = _base(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        text = comments.get(f.name, "")
        help_text = f"{text} (default: {shown})" if text else f"default: {shown}"
        flag = "--" + f.name.replace("_", "-")
        dest = dest_prefix + f.name
        if kind is bool:
            parser.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text.replace("%", "%%"))
            continue
        origin = typing.get_origin(kind)
        if origin is tuple:
            inner = typing.get_args(kind)[0]
            typ = _tuple_of(inner if inner in (int, float) else float, f.name)
            metavar = "A,B,..."
        else:
            typ, metavar = (kind if kind in (int, float, str) else str), None
        parser.add_argument(flag, dest=dest, type=typ, default=None, choices=choices.get(f.name), metavar=metavar,
                            help=help_text.replace("%", "%%"))


def config_overrides(args: argparse.Namespace, cls: type, dest_prefix: str = "") -> dict[str, Any]:
    """The fields of ``cls`` given on the command line (options left out are not in the dict)."""
    out = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, dest_prefix + f.name, None)
        if value is not None:
            out[f.name] = value
    return out


def int_in(low: int, high: int | None = None):
    """An argparse ``type``: an int in [low, high) (no upper bound when ``high`` is None); else argparse's
    one-line error naming the flag and what it accepts, before any work."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value >= high):
            accepted = f"an int >= {low}" if high is None else f"an int in [{low}, {high})"
            raise argparse.ArgumentTypeError(f"expected {accepted}, got {text!r}")
        return value
    return parse


def add_deterministic_option(p: argparse.ArgumentParser) -> None:
    """``--deterministic`` for the training commands of both CLIs (see ``ulmfit.train.enable_determinism``)."""
    p.add_argument("--deterministic", action="store_true",
                   help="deterministic GPU kernels, for bitwise repeatable CUDA runs (slower; an operation without "
                        "one fails). CPU runs repeat bitwise without it at the same thread count")


def prepare_process(args: argparse.Namespace, *, training: bool) -> None:
    """Process-wide settings of both CLIs, before a command runs: ``--deterministic`` kernels, and the torch
    threads the load average leaves free (``ulmfit.cpu_threads``); a training command says on stderr when
    it runs on fewer threads."""
    import sys

    from ulmfit.cpu_threads import choose_cpu_threads

    if getattr(args, "deterministic", False):
        from ulmfit.train.seed import enable_determinism

        enable_determinism()
    note = choose_cpu_threads()
    if note and training:
        print(note, file=sys.stderr)
