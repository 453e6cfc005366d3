import json
from pathlib import Path

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
    final = [line for line in capsys.readouterr().out.splitlines() if line.startswith("final")]
    assert final[0].startswith("final (epoch 1): {'train_loss': ")   # counted from 1, as the epoch lines
    images = [str(data / "val" / "red" / "0.png"), str(data / "val" / "blue" / "1.png")]
    assert main(["predict", str(out), *images, "--json", "--device", "cpu"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["image"] for r in rows] == images
    assert all(r["label"] in config["classes"] and 0 < r["probability"] <= 1 for r in rows)
    assert main(["predict", str(out), images[0], "--device", "cpu"]) == 0
    line = capsys.readouterr().out.strip().split("\t")
    assert line[0] == images[0] and line[1] in config["classes"] and 0 < float(line[2]) <= 1
    folder = str(Path(images[0]).parent)  # a folder instead of image files: one line, naming it
    assert main(["predict", str(out), folder, "--device", "cpu"]) == 2
    assert f"'{folder}' is a folder; give image files" in _one_error_line(capsys.readouterr().err, "predict")


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


def test_hf_image_data_offline_fails_fast_in_one_line(tmp_path, capsys, monkeypatch):
    import time

    from ulmfit.hub import hf

    monkeypatch.setattr(hf, "hub_reachable", lambda timeout=3.0: False)
    start = time.time()
    assert main(["train", "--data", "hf:surely-not-cached-images", "--arch", "xresnet18",
                 "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "image data 'hf:surely-not-cached-images': cannot reach huggingface.co" in err and err.count("\n") == 1
    assert time.time() - start < 15  # no half-minute of retries


def test_train_imagenette_script_defaults(monkeypatch):
    import importlib.util

    from tests.conftest import REPO

    spec = importlib.util.spec_from_file_location("train_imagenette", REPO / "scripts" / "train_imagenette.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    seen = []
    monkeypatch.setattr(mod, "main", lambda argv: seen.append(argv) or 0)
    assert mod.run(["--epochs", "1"]) == 0
    assert seen[-1] == ["train", "--data", "imagenette-160", "--epochs", "1"]  # --out: the command's default
    mod.run(["--data", "/x/woof", "--arch", "xresnet18", "--out", "o"])
    assert seen[-1] == ["train", "--data", "/x/woof", "--arch", "xresnet18", "--out", "o"]
    mod.run(["--data=hf:frgfm/imagenette"])
    assert seen[-1] == ["train", "--data=hf:frgfm/imagenette"]
    from vision.cli import default_out

    assert default_out("imagenette-160", "xresnet50") == Path("vision-runs/imagenette-160-xresnet50")


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
    assert res.stdout.count("final (epoch ") == 1  # only rank 0 reports
    assert (out / "model.pt").is_file() and (out / "config.json").is_file()


# --------------------------------------------------------------------------- the run record, --out, evaluate

TINY = ["--arch", "xresnet18", "--size", "32", "--bs", "6", "--workers", "0", "--no-progress", "--device", "cpu"]


def _csv(path):
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _one_error_line(err: str, command: str) -> str:
    assert err.startswith(f"ulmfit-vision {command}: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_train_writes_the_run_record_with_stages_and_confusion_matrix(tmp_path, capsys):
    from ulmfit.hub.model_folder import read_json

    data = make_image_folder(tmp_path / "imgs", n_train=4, n_val=2)
    scratch, tuned = tmp_path / "scratch", tmp_path / "tuned"
    assert main(["train", "--data", str(data), *TINY, "--epochs", "1", "--out", str(scratch)]) == 0
    epochs, steps = _csv(scratch / "metrics.csv"), _csv(scratch / "steps.csv")
    assert [e["stage"] for e in epochs] == ["train"] and {s["stage"] for s in steps} == {"train"}
    assert {"stage", "stage_index", "epoch", "step", "lr", "train_loss", "valid_loss", "accuracy"} <= set(epochs[0])
    assert {"stage", "stage_index", "step", "lr", "loss"} <= set(steps[0])
    assert [int(s["step"]) for s in steps] == [1, 2]  # 12 training images, batches of 6

    # transfer learning from the saved folder: two named stages, one log across both
    assert main(["train", "--data", str(data), *TINY, "--epochs", "1", "--frozen-epochs", "1",
                 "--pretrained", str(scratch), "--out", str(tuned)]) == 0
    out = capsys.readouterr().out
    epochs, steps = _csv(tuned / "metrics.csv"), _csv(tuned / "steps.csv")
    assert [(e["stage"], e["stage_index"], e["epoch"]) for e in epochs] == [
        ("head only (frozen body)", "0", "1"), ("all layers", "1", "1")]
    assert [s["stage"] for s in steps] == ["head only (frozen body)"] * 2 + ["all layers"] * 2
    assert [int(s["step"]) for s in steps] == [1, 2, 3, 4]
    html = (tuned / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html
    assert 'id="confusion"' in html and 'id="per-class"' in html and "Vision classifier" in html
    assert "head only (frozen body)" in html and "all layers" in html
    assert html.count('class="cm-cell') == 9  # 3 x 3 classes
    assert "validation images" in html and "image size" in html and "32 x 32 px" in html
    manifest = read_json(tuned / "manifest.json")["files"]
    assert {"model.pt", "config.json", "metrics.csv", "steps.csv", "report.html"} <= set(manifest)
    assert f"report: {tuned / 'report.html'}" in out and str(tuned / "metrics.csv") in out


def test_train_without_out_saves_into_the_default_folder_and_says_where(tmp_path, monkeypatch, capsys):
    data = make_image_folder(tmp_path / "imgs", n_train=4, n_val=2)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", "imgs", *TINY, "--epochs", "1"]) == 0
    folder = Path("vision-runs") / "imgs-xresnet18"
    assert {"model.pt", "config.json", "metrics.csv", "steps.csv", "report.html"} <= {p.name for p in folder.iterdir()}
    out = capsys.readouterr().out
    assert f"saved model folder: {folder}" in out
    assert f"metrics: {folder / 'metrics.csv'}" in out and f"report: {folder / 'report.html'}" in out
    assert data.is_dir()


@pytest.mark.parametrize("data, arch, expected", [
    ("imgs", "xresnet18", "imgs-xresnet18"),
    ("/x/woof/", "xresnet50", "woof-xresnet50"),
    ("imagenette-160", "resnet34", "imagenette-160-resnet34"),
    ("/d/pets.tar.gz", "xresnet18", "pets-xresnet18"),
    ("hf:frgfm/imagenette", "xresnet50", "frgfm-imagenette-xresnet50"),
])
def test_default_out_folder_names(data, arch, expected):
    from vision.cli import DEFAULT_RUNS, default_out

    assert default_out(data, arch) == Path(DEFAULT_RUNS) / expected


def _saved_model(folder, classes=("blue", "green", "red"), seed=0):
    """An untrained tiny model folder (its predictions are arbitrary, which is what the tests need)."""
    import torch

    from vision.learner import build_model, save_model

    torch.manual_seed(seed)
    model = build_model("xresnet18", len(classes), arch_kwargs={"widths": (8, 8, 8, 8), "stem_szs": (8, 8, 8)})
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.5)  # so that the predictions differ between images
    return save_model(folder, model.eval(), list(classes), 32, (0.5,) * 3, (0.25,) * 3)


def test_evaluate_agrees_with_predict_on_every_image(tmp_path, capsys):
    import numpy as np

    from vision.learner import predict

    data = make_image_folder(tmp_path / "imgs", n_train=2, n_val=3)
    model = _saved_model(tmp_path / "m")
    classes = ["blue", "green", "red"]
    images = sorted((data / "val").glob("*/*.png"))
    preds = predict(model, images, device="cpu")
    confusion = np.zeros((3, 3), dtype=int)
    for img, r in zip(images, preds):
        confusion[classes.index(img.parent.name), classes.index(r["label"])] += 1
    correct = int(np.trace(confusion))

    assert main(["evaluate", str(model), "--data", str(data), "--json", "--workers", "0", "--device", "cpu"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == len(images) == 9
    assert metrics["accuracy"] == pytest.approx(correct / 9)
    assert metrics["confusion_matrix"] == confusion.tolist() and metrics["classes"] == classes
    for c, name in enumerate(classes):
        tp, predicted = confusion[c, c], confusion[:, c].sum()
        assert metrics["per_class"][name]["support"] == 3
        assert metrics["per_class"][name]["precision"] == pytest.approx(tp / predicted if predicted else 0.0)
        assert metrics["per_class"][name]["recall"] == pytest.approx(tp / 3)

    assert main(["evaluate", str(model), "--data", str(data), "--workers", "0", "--device", "cpu"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0] == f"{model} on {data}, split valid: 9 images"
    assert text[1].split() == ["accuracy:", f"{correct / 9:.4f}"]
    assert "confusion matrix (rows: true, columns: predicted):" in text
    rows = text[text.index("confusion matrix (rows: true, columns: predicted):") + 1:]
    assert [r.split() for r in rows] == [[n, *map(str, row)] for n, row in zip(classes, confusion.tolist())]

    # --split train: the 6 training images, with the validation transform
    assert main(["evaluate", str(model), "--data", str(data), "--split", "train", "--json", "--workers", "0",
                 "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 6


def test_evaluate_errors_are_one_line(tmp_path, capsys):
    data = make_image_folder(tmp_path / "imgs", n_train=1, n_val=1)
    model = _saved_model(tmp_path / "m")
    cpu = ["--device", "cpu", "--workers", "0"]
    assert main(["evaluate", str(tmp_path / "nomodel"), "--data", str(data), *cpu]) == 2
    assert "does not exist" in _one_error_line(capsys.readouterr().err, "evaluate")
    assert main(["evaluate", str(model), "--data", str(data), "--split", "test", *cpu]) == 2
    err = _one_error_line(capsys.readouterr().err, "evaluate")
    assert "no split 'test'" in err and "train, val" in err
    assert main(["evaluate", str(model), "--data", str(tmp_path / "nothing"), *cpu]) == 2
    assert "not a built-in dataset" in _one_error_line(capsys.readouterr().err, "evaluate")
    other = _saved_model(tmp_path / "other", classes=("blue", "green", "purple"))
    assert main(["evaluate", str(other), "--data", str(data), *cpu]) == 2
    err = _one_error_line(capsys.readouterr().err, "evaluate")
    assert "[blue, green, purple]" in err and "[blue, green, red]" in err
    assert "not in the model: [red]" in err and "not in the data: [purple]" in err


def test_version(capsys):
    from ulmfit.version import __version__

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"ulmfit-vision {__version__}"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_device_without_a_gpu_is_one_line_before_any_work(tmp_path, capsys):
    missing = str(tmp_path / "no-such-data")  # the device error must come before the data are looked at
    for argv in (["train", "--data", missing, "--device", "cuda"], ["train", "--data", missing, "--device", "cuda:1"],
                 ["evaluate", str(tmp_path / "no-model"), "--data", missing, "--device", "cuda"],
                 ["predict", str(tmp_path / "no-model"), "x.png", "--device", "cuda"]):
        assert main(argv) == 2
        err = _one_error_line(capsys.readouterr().err, argv[0])
        assert f"--device {argv[-1]} but no CUDA GPU is available; use --device cpu" in err


@pytest.mark.parametrize("extra, message", [
    (["--lr", "inf"], "--lr must be a finite number > 0, got inf"),
    (["--wd", "-1"], "--wd must be a finite number >= 0, got -1.0"),
    (["--frozen-epochs", "-1"], "--frozen-epochs must be an int >= 0, got -1"),
    (["--size", "4"], "--size must be an int >= 8, got 4"),
    (["--arch", "resnet18"], "--arch resnet18 needs --weights (torchvision's pretrained weights) or --pretrained "
                             "MODEL_DIR; only ['xresnet101', 'xresnet152', 'xresnet18', 'xresnet34', 'xresnet50'] "
                             "train from scratch"),
    (["--arch", "xresnet18", "--weights", "IMAGENET1K_V1"],
     "--arch xresnet18 has no pretrained weights (--weights IMAGENET1K_V1): leave --weights out to train it from "
     "scratch, or start from a saved model folder with --pretrained MODEL_DIR"),
])
def test_bad_values_name_the_flag_before_any_work(tmp_path, capsys, extra, message):
    assert main(["train", "--data", str(tmp_path / "no-such-data"), *extra]) == 2
    assert message in _one_error_line(capsys.readouterr().err, "train")


def test_negative_workers_are_refused_by_argparse(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--data", str(tmp_path / "no-such-data"), "--n-workers", "-1"])
    assert "argument --n-workers/--workers: expected an int >= 0, got '-1'" in capsys.readouterr().err


def test_an_out_that_is_a_file_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["train", "--data", str(tmp_path / "no-such-data"), "--out", str(tmp_path / "afile")]) == 2
    assert f"--out '{tmp_path}/afile' is a file" in _one_error_line(capsys.readouterr().err, "train")


def test_fp16_on_cpu_is_one_line_before_any_work(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "no-such-data"), "--precision", "fp16", "--device", "cpu"]) == 2
    assert "--precision fp16 needs a CUDA GPU" in _one_error_line(capsys.readouterr().err, "train")


def test_weights_offline_is_one_line_naming_the_flag_and_the_cache(tmp_path, monkeypatch, capsys):
    import urllib.error

    import torch
    import torchvision

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty cache, whatever this machine holds
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    data = make_image_folder(tmp_path / "imgs", n_train=1, n_val=1)
    argv = ["train", "--data", str(data), "--arch", "resnet18", "--weights", "IMAGENET1K_V1", "--size", "32",
            "--workers", "0", "--device", "cpu", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = _one_error_line(capsys.readouterr().err, "train")
    dest = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert "--weights IMAGENET1K_V1 for resnet18" in err and "https://download.pytorch.org/models/" in err
    assert "Temporary failure in name resolution" in err and f"place it at {dest}" in err
    assert "torch.hub.get_dir()" in err and not (tmp_path / "out").exists()

    assert main([*argv[:6], "IMAGENET1K_V9", *argv[7:]]) == 2  # a misspelt name: the accepted ones
    assert "accepted: IMAGENET1K_V1, DEFAULT" in _one_error_line(capsys.readouterr().err, "train")
