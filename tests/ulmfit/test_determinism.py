"""Same seed, same data, same threads -> bitwise the same models and predictions, across processes; a
process SIGKILLed mid-epoch and resumed ends with bitwise the weights of the uninterrupted run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _worker(out: Path, seed: int, *args, expect_kill=False):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "random"}
    proc = subprocess.run([sys.executable, "-m", "tests.ulmfit.determinism_worker", str(seed), str(out),
                           *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if expect_kill:
        assert proc.returncode == -9, proc.stderr[-2000:]
        return None
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("determinism")
    return {"a": _worker(tmp / "a", 1), "b": _worker(tmp / "b", 1), "c": _worker(tmp / "c", 2), "tmp": tmp}


def test_same_seed_in_two_processes_gives_bitwise_identical_models_and_predictions(runs):
    assert runs["a"] == runs["b"]
    assert set(runs["a"]) == {"pretrain", "fine_tune", "classifier", "predictions"}


def test_another_seed_gives_other_models(runs):
    for key in ("pretrain", "fine_tune", "classifier", "predictions"):
        assert runs["a"][key] != runs["c"][key], key


@pytest.mark.parametrize("kill_at", [7, 13])  # mid-epoch, with the LSTM state carried over
def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_weights(runs, kill_at):
    out = runs["tmp"] / f"kill{kill_at}"
    _worker(out, 1, "--stop-after", "pretrain", "--kill-at", kill_at, expect_kill=True)
    assert (out / "run" / "checkpoint.pt").is_file()
    resumed = _worker(out, 1, "--stop-after", "pretrain", "--resume")
    assert resumed["pretrain"] == runs["a"]["pretrain"]
