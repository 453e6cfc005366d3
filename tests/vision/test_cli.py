import json

import pytest

from tests.vision.conftest import make_image_folder
from vision.cli import main


def test_train_then_predict_end_to_end(tmp_path, capsys):
    data = make_image_folder(tmp_path / "imgs", n_train=4, n_val=2)
    out = tmp_path / "model"
    rc = main(["train", "--data", str(data), "--arch", "xresnet18", "--size", "32", "--epochs", "1", "--bs", "6",
               "--workers", "0", "--mixup", "0.2", "--label-smoothing", "0.1", "--out", str(out), "--no-progress",
               "--device", "cpu"])
    assert rc == 0
    assert {"model.pt", "config.json", "metrics.csv"} <= {p.name for p in out.iterdir()}
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "image_classifier" and config["arch"] == "xresnet18"
    assert config["classes"] == ["blue", "green", "red"] and config["size"] == 32
    assert config["train"]["mixup"] == 0.2 and config["mean"] == [0.485, 0.456, 0.406]
    capsys.readouterr()
    images = [str(data / "val" / "red" / "0.png"), str(data / "val" / "blue" / "1.png")]
    assert main(["predict", str(out), *images, "--json", "--device", "cpu"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["image"] for r in rows] == images
    assert all(r["label"] in config["classes"] and 0 < r["probability"] <= 1 for r in rows)
    assert main(["predict", str(out), images[0], "--device", "cpu"]) == 0
    line = capsys.readouterr().out.strip().split("\t")
    assert line[0] == images[0] and line[1] in config["classes"] and 0 < float(line[2]) <= 1


def test_cli_errors(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "nothing"), "--arch", "xresnet18"]) == 2
    assert "not a built-in dataset" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "nomodel"), "x.png"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ulmfit-vision predict: error: ") and "does not exist" in err and err.count("\n") == 1
    with pytest.raises(ValueError, match="does not exist"):  # --debug: the traceback instead of the line
        main(["--debug", "predict", str(tmp_path / "nomodel"), "x.png"])
    with pytest.raises(SystemExit):
        main(["train", "--data", "x", "--precision", "fp8"])


def test_train_imagenette_script_defaults(monkeypatch):
    import importlib.util

    from tests.conftest import REPO

    spec = importlib.util.spec_from_file_location("train_imagenette", REPO / "scripts" / "train_imagenette.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    seen = []
    monkeypatch.setattr(mod, "main", lambda argv: seen.append(argv) or 0)
    assert mod.run(["--epochs", "1"]) == 0
    assert seen[-1][:3] == ["train", "--data", "imagenette-160"]
    assert seen[-1][-2:] == ["--out", "models/imagenette-160-xresnet50"]
    mod.run(["--data", "/x/woof", "--arch", "xresnet18", "--out", "o"])
    assert seen[-1] == ["train", "--data", "/x/woof", "--arch", "xresnet18", "--out", "o"]


@pytest.mark.slow
def test_train_under_torchrun_two_cpu_processes(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    data = make_image_folder(tmp_path / "imgs", n_train=4, n_val=2)
    out = tmp_path / "model"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "vision.cli", "train",
           "--data", str(data), "--arch", "xresnet18", "--size", "32", "--epochs", "1", "--bs", "4",
           "--workers", "0", "--device", "cpu", "--out", str(out), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.count("final:") == 1  # only rank 0 reports
    assert (out / "model.pt").is_file() and (out / "config.json").is_file()
