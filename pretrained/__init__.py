"""Pretrained language models: the registry (data, in :mod:`ulmfit.hub.registry`), the shipped small
English LM folders, fastai-format import/export, and thin loaders over ``LanguageModel.from_pretrained``.

>>> import pretrained
>>> pretrained.list_models()   # ["ulmfit-en-fwd", "ulmfit-en-bwd", "ulmfit-en-small-fwd", "wt103-bwd", "wt103-fwd"]
>>> lm = pretrained.load(pretrained.DEFAULT)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ulmfit.hub.registry import (
    DEFAULT,
    ModelEntry,
    UnknownModelError,
    count_lm_params,
    fastai_files,
    get_entry,
    list_models,
    locate,
)

__all__ = [
    "DEFAULT",
    "ModelEntry",
    "UnknownModelError",
    "count_lm_params",
    "fastai_files",
    "get_entry",
    "import_fastai",
    "list_models",
    "load",
    "locate",
]


def load(name_or_path: str | os.PathLike[str], **kwargs: Any):
    """``LanguageModel.from_pretrained(name_or_path, **kwargs)``: a registry name, a saved model folder, or a
    fastai .pth + .pkl folder (keywords: ``config=``, ``tokenizer=``)."""
    from ulmfit.language_model import LanguageModel

    return LanguageModel.from_pretrained(name_or_path, **kwargs)


def import_fastai(weights_pth: str | os.PathLike[str], vocab_pkl: str | os.PathLike[str], **kwargs: Any):
    """A ``LanguageModel`` from fastai v1/v2 AWD-LSTM LM files (weights ``.pth``, itos ``.pkl``)."""
    from ulmfit.language_model import LanguageModel

    for arg, value in (("weights_pth", weights_pth), ("vocab_pkl", vocab_pkl)):
        if not Path(value).is_file():
            raise FileNotFoundError(f"{arg}={str(value)!r} is not a file; expected a fastai {arg.split('_')[1]} file")
    return LanguageModel.from_fastai(Path(weights_pth), Path(vocab_pkl), **kwargs)
