"""The one error path of both command-line tools (``ulmfit`` and ``ulmfit-vision``): a user error
becomes one line on stderr, ``PROG COMMAND: error: MESSAGE``, and exit status 2 (argparse's status for a
bad option too); ``--debug`` shows the traceback instead. A closed pipe (``| head -1``) ends quietly."""

from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from collections.abc import Callable

from ulmfit.errors import UlmfitError

__all__ = ["USER_ERRORS", "USER_ERROR_EXIT", "in_flag_terms", "run_command"]

USER_ERROR_EXIT = 2
# What a user's input can cause: our own errors, bad values, missing files (the messages name the thing).
USER_ERRORS = (UlmfitError, ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


def in_flag_terms(message: str, names, renames: dict[str, str] | None = None) -> str:
    """An API message with its keywords written as the shell's flags: ``device='cuda'`` -> ``--device cuda``,
    ``stage_epochs=`` -> ``--stage-epochs``, and a leading ``lr must be`` (a config field's check) -> ``--lr must
    be``. ``names``: the keywords (a config's fields); ``renames``: a keyword whose flag reads differently
    (``{"freeze_epochs": "frozen_epochs"}``)."""
    names = sorted(names, key=len, reverse=True)  # the longest first: stage_epochs before epochs
    if not names:
        return message
    renames = renames or {}
    words = "|".join(map(re.escape, names))

    def flag(name: str) -> str:
        return "--" + renames.get(name, name).replace("_", "-")

    message = re.sub(rf"\b({words})='([^']*)'", lambda m: f"{flag(m[1])} {m[2]}", message)
    message = re.sub(rf"\b({words})= ?", lambda m: f"{flag(m[1])} ", message)
    return re.sub(rf"^({words}) must be", lambda m: f"{flag(m[1])} must be", message)


def run_command(prog: str, command: str, fn: Callable[[], object], debug: bool = False) -> int:
    """Run ``fn()``; return 0, or print one line and return :data:`USER_ERROR_EXIT` on a user error. Warnings
    are one line too, ``PROG COMMAND: warning: MESSAGE`` (``--debug``: Python's format, with the source line)."""
    try:
        with warnings.catch_warnings():
            if not debug:
                warnings.showwarning = _one_line_warning(prog, command)
            fn()
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (e.g. `| head -1`): stop writing, without a traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except USER_ERRORS as err:
        if debug:
            raise
        message = " ".join(str(err).split("\n")) or type(err).__name__
        print(f"{prog} {command}: error: {message}", file=sys.stderr)
        return USER_ERROR_EXIT
    return 0


def _one_line_warning(prog: str, command: str):
    """A ``warnings.showwarning`` that prints ``PROG COMMAND: warning: MESSAGE`` on stderr: a shell user needs the
    message, not the Python file and line that raised it."""
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"{prog} {command}: warning: {' '.join(str(message).split())}", file=file or sys.stderr)
    return show


def allow_debug_anywhere(subparsers) -> None:
    """Accept ``--debug`` after the sub-command too (``ulmfit predict M x --debug``), not only before it."""
    for sub in subparsers.choices.values():
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show the Python traceback of an error")
