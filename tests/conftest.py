import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The real-data folder beside the project (``../shared/data``) or ``$ULMFIT_SHARED_DATA``."""
    return Path(os.environ.get("ULMFIT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if not (path / "nltk").is_dir():
        pytest.skip(f"real data not found at {path}")
    return path


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    # Downloads and caches never touch the user's real cache during tests.
    monkeypatch.setenv("ULMFIT_HOME", str(tmp_path_factory.mktemp("ulmfit_home")))


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # The tests use tiny models: one intra-op thread is faster than two on a shared 2-core CPU.
    import torch

    torch.set_num_threads(1)
