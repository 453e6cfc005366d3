"""Registry of pretrained language models, their downloads, and the shipped small English LM.

>>> import pretrained
>>> pretrained.list_models()            # ["ulmfit-en-small-fwd", "wt103-bwd", "wt103-fwd"]
>>> lm = pretrained.load(pretrained.DEFAULT)
"""

from pretrained.registry import (
    DEFAULT,
    ModelEntry,
    UnknownModelError,
    count_lm_params,
    fastai_files,
    get_entry,
    import_fastai,
    list_models,
    load,
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
