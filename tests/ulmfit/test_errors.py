"""One error family: every error the toolkit raises on purpose is a UlmfitError, and keeps the builtin
base that callers' ``except`` clauses already use."""

import pytest

from ulmfit.data.sources import SourceError
from ulmfit.errors import DownloadError, NonFiniteOutputError, TrainingDivergedError, UlmfitError
from ulmfit.hub.model_folder import ModelFolderError
from ulmfit.hub.registry import UnknownModelError


@pytest.mark.parametrize("cls, builtin", [(SourceError, ValueError), (ModelFolderError, ValueError),
                                          (UnknownModelError, ValueError), (DownloadError, RuntimeError),
                                          (TrainingDivergedError, RuntimeError), (NonFiniteOutputError, ValueError)])
def test_every_error_is_a_ulmfit_error_and_keeps_its_builtin_base(cls, builtin):
    assert issubclass(cls, UlmfitError) and issubclass(cls, builtin)


def test_old_import_paths_still_work():
    from pretrained.registry import UnknownModelError as old_unknown
    from ulmfit.data.download import DownloadError as old_download
    from ulmfit.model_folder import ModelFolderError as old_folder

    assert (old_download, old_folder, old_unknown) == (DownloadError, ModelFolderError, UnknownModelError)
