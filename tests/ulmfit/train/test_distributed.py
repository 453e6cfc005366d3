import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from tests.ulmfit.train.ddp_worker import main as run_single

REPO = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_matches_single_process(tmp_path):
    single, multi = tmp_path / "single", tmp_path / "ddp"
    run_single(single)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        str(Path(__file__).with_name("ddp_worker.py")),
        str(multi),
    ]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
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
