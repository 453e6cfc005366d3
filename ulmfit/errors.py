"""One error family: every error the toolkit raises on purpose derives from :class:`UlmfitError`, so the
command-line tools can turn any of them into one line and one exit code."""

from __future__ import annotations

__all__ = ["UlmfitError", "DownloadError", "NonFiniteOutputError", "TrainingDivergedError", "UsageError"]


class UlmfitError(Exception):
    """Base class of the toolkit's own errors."""


class TrainingDivergedError(UlmfitError, RuntimeError):
    """Training produced non-finite losses or gradients for too many consecutive steps."""


class NonFiniteOutputError(UlmfitError, ValueError):
    """A model produced NaN or infinite outputs (its weights are broken)."""


class DownloadError(UlmfitError, RuntimeError):
    """A download, a verification or an extraction failed; the message says why and what to do."""


class UsageError(UlmfitError, ValueError):
    """A command-line argument or input that cannot be used (the message names it and what is accepted)."""
