"""Load a script of ``scripts/`` as a module for its tests."""

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load_script(name: str):
    """A context-free import of ``scripts/NAME.py`` (removed from ``sys.modules`` by :func:`unload`)."""
    spec = importlib.util.spec_from_file_location(f"{name}_under_test", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def unload(module) -> None:
    sys.modules.pop(module.__name__, None)


def script_fixture(name: str, scope: str = "function"):
    """A pytest fixture giving ``scripts/NAME.py`` as a module, unloaded afterwards:
    ``bench = script_fixture("benchmark", scope="module")`` in a test file."""
    @pytest.fixture(scope=scope)
    def _fixture():
        module = load_script(name)
        yield module
        unload(module)

    return _fixture
