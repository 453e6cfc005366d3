"""The saved-model folder format lives in :mod:`ulmfit.hub.model_folder`; this module keeps the old
import path working."""

from ulmfit.hub.model_folder import (
    FORMAT_VERSION,
    ModelFolderError,
    load_state,
    read_config,
    read_json,
    save_state,
    write_config,
    write_json,
)

__all__ = ["FORMAT_VERSION", "ModelFolderError", "load_state", "read_config", "read_json", "save_state",
           "write_config", "write_json"]
