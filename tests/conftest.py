import os
import subprocess
import sys
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


@pytest.fixture
def blocked_env(tmp_path) -> dict[str, str]:
    """A subprocess environment where ``import spacy`` and ``import datasets`` raise ImportError, no GPU is
    visible and torch uses one thread (the CPU is shared)."""
    block = tmp_path / "blocked"
    for name in ("spacy", "datasets"):
        (block / name).mkdir(parents=True)
        (block / name / "__init__.py").write_text('raise ImportError("blocked for the test")\n')
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(block), os.environ.get("PYTHONPATH")]))}
    for name in ("spacy", "datasets"):  # the block itself works: these imports now fail
        probe = subprocess.run([sys.executable, "-c", f"import {name}"], env=env, capture_output=True, text=True)
        assert probe.returncode != 0 and "blocked for the test" in probe.stderr, probe.stderr
    return env
