"""Hugging Face Hub datasets, offline-aware: when the Hub cannot be reached in 3 s only the local cache is
read, at once (``datasets`` would otherwise retry for half a minute), and a failure is one line."""

from __future__ import annotations

from typing import Any

from ulmfit.errors import UlmfitError

__all__ = ["HF_HOST", "HubDatasetError", "hub_reachable", "load_hub_dataset"]

HF_HOST = ("huggingface.co", 443)


class HubDatasetError(UlmfitError, ValueError):
    """``datasets`` could not load a Hub dataset; ``reason`` says why in a few words (no source name)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def hub_reachable(timeout: float = 3.0) -> bool:
    import socket

    try:
        socket.create_connection(HF_HOST, timeout=timeout).close()
        return True
    except OSError:
        return False


def load_hub_dataset(name: str, hf_config: str | None = None, **kwargs: Any):
    """``datasets.load_dataset(name, hf_config, **kwargs)``, from the cache only when the Hub is unreachable;
    raises :class:`HubDatasetError` (one line) when it fails."""
    import datasets  # heavy, optional: imported only for hf: sources
    import huggingface_hub

    offline = not hub_reachable()
    saved, hub_saved = datasets.config.HF_DATASETS_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE
    try:
        if offline:
            datasets.config.HF_DATASETS_OFFLINE = huggingface_hub.constants.HF_HUB_OFFLINE = True
        args = (name, hf_config) if hf_config else (name,)  # no config: load_dataset's own default
        return datasets.load_dataset(*args, **kwargs)
    except (OSError, ValueError) as err:  # ConnectionError, FileNotFoundError, DatasetNotFoundError, ...
        reason = (f"cannot reach {HF_HOST[0]} and there is no cached copy" if offline
                  else f"datasets could not load it ({type(err).__name__}: {str(err).splitlines()[0][:200]})")
        raise HubDatasetError(reason) from err
    finally:
        datasets.config.HF_DATASETS_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE = saved, hub_saved
