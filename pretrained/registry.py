"""The registry is pure data and lives in :mod:`ulmfit.hub.registry` (it knows no model class); this
module keeps the ``pretrained.registry`` names working."""

from ulmfit.hub.registry import (
    AWD_LSTM_LM_CONFIG,
    DEFAULT,
    DIRECTIONS,
    FORMATS,
    PACKAGE_DIR,
    ULMFIT_FOLDER_FILES,
    ModelEntry,
    UnknownModelError,
    count_lm_params,
    fastai_files,
    get_entry,
    is_fastai_folder,
    is_registered,
    list_models,
    locate,
)

__all__ = ["AWD_LSTM_LM_CONFIG", "DEFAULT", "DIRECTIONS", "FORMATS", "PACKAGE_DIR", "ULMFIT_FOLDER_FILES",
           "ModelEntry", "UnknownModelError", "count_lm_params", "fastai_files", "get_entry", "is_fastai_folder",
           "is_registered", "list_models", "locate"]
