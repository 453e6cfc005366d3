import json
from pathlib import Path

import torch

from tests.ulmfit.train.ddp_worker import main as run_single
from tests.ulmfit.train.helpers import run_torchrun


def test_two_process_ddp_matches_single_process(tmp_path):
    single, multi = tmp_path / "single", tmp_path / "ddp"
    run_single(single)
    proc = run_torchrun(Path(__file__).with_name("ddp_worker.py"), multi, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    a = torch.load(single / "weights.pt", weights_only=True)
    b = torch.load(multi / "weights.pt", weights_only=True)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    ma, mb = (
        json.loads((single / "metrics.json").read_text()),
        json.loads((multi / "metrics.json").read_text()),
    )
    assert mb["world"] == 2 and ma["world"] == 1
    assert abs(ma["valid_loss"] - mb["valid_loss"]) < 1e-4 and ma["accuracy"] == mb["accuracy"]
    # rank 0 alone logs: one epoch line each (not two), one metrics.csv row per epoch
    assert proc.stdout.count("epoch 2/2") == 1
    assert len((multi / "metrics.csv").read_text().strip().splitlines()) == 3
    assert (multi / "checkpoint.pt").is_file()
