import io
import tarfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from PIL import Image
from torch.utils.data import DistributedSampler, TensorDataset
from torchvision.datasets import DatasetFolder

from tests.vision.conftest import make_image_folder
from vision import data as vdata
from vision.data import (
    ImageFolderSplit,
    ImageLoader,
    image_data,
    image_split,
    load_rgb,
    resolve_image_folder,
    resolve_source,
    train_transform,
    valid_transform,
)


def test_image_folder_loaders(image_folder):
    d = image_data(image_folder, size=24, bs=4, workers=0, device="cpu")
    assert d.classes == ["blue", "green", "red"]
    assert len(d.train) == 18 // 4 and len(d.valid) == 2  # train drops the last partial batch
    x, y = next(iter(d.train))
    assert x.shape == (4, 3, 24, 24) and x.dtype == torch.float32 and y.dtype == torch.int64
    xs, ys = zip(*d.valid)
    assert sum(len(v) for v in ys) == 6
    assert torch.equal(torch.cat(ys), torch.tensor([0, 0, 1, 1, 2, 2]))  # validation in order
    # ImageNet normalisation: a red image's red channel is high, blue low
    red = torch.cat(xs)[torch.cat(ys) == 2]
    assert red[:, 0].mean() > 1 and red[:, 2].mean() < 0


def test_grey_cmyk_rgba_become_rgb(tmp_path):
    paths = []
    for mode, colour in (("L", 128), ("CMYK", (0, 200, 200, 0)), ("RGBA", (10, 20, 30, 40)), ("P", 3)):
        p = tmp_path / f"{mode}.{'jpg' if mode == 'CMYK' else 'png'}"
        Image.new(mode, (10, 12), colour).save(p)
        paths.append(p)
    for p in paths:
        img = load_rgb(p)
        assert img.mode == "RGB" and img.size == (10, 12)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="bad.jpg"):
        load_rgb(bad)


def _indices(n: int) -> TensorDataset:
    return TensorDataset(torch.arange(n))


def _seen(loader) -> list[int]:
    return [int(v) for (batch,) in loader for v in batch]


def test_loader_sampler_is_a_distributed_sampler_seeded_and_sharded():
    a, b = ImageLoader(_indices(10), bs=3, shuffle=True, seed=1), ImageLoader(_indices(10), bs=3, shuffle=True, seed=1)
    assert isinstance(a.sampler, DistributedSampler) and (a.sampler.rank, a.sampler.num_replicas) == (0, 1)
    assert list(a.sampler) == list(b.sampler) and sorted(a.sampler) == list(range(10))
    first = list(a.sampler)
    assert _seen(a) == first  # the loader yields the sampler's order
    a.set_epoch(1)
    assert list(a.sampler) != first and a.sampler.epoch == 1
    shards = [ImageLoader(_indices(10), bs=3, shuffle=True, seed=1, rank=r, world_size=3) for r in range(3)]
    assert all(isinstance(s.sampler, DistributedSampler) and s.sampler.rank == r for r, s in enumerate(shards))
    assert all(len(s.sampler) == 4 and len(_seen(s)) == 4 for s in shards)  # padded to 12 = 3 x 4
    assert set().union(*(_seen(s) for s in shards)) == set(range(10))
    full = list(ImageLoader(_indices(10), bs=3, shuffle=True, seed=1).sampler)
    assert all(list(s.sampler) == (full + full[:2])[r::3] for r, s in enumerate(shards))  # rank r: [r::3]
    assert list(ImageLoader(_indices(5), bs=2).sampler) == [0, 1, 2, 3, 4]


def test_loader_set_epoch_reproducible(image_folder):
    d1 = image_data(image_folder, size=16, bs=4, workers=0, device="cpu", seed=3)
    d2 = image_data(image_folder, size=16, bs=4, workers=0, device="cpu", seed=3)
    for d in (d1, d2):
        d.train.set_epoch(2)
    torch.manual_seed(0)
    y1 = [y for _, y in d1.train]
    torch.manual_seed(0)
    y2 = [y for _, y in d2.train]
    assert all(torch.equal(a, b) for a, b in zip(y1, y2))


def test_bad_sources(tmp_path):
    with pytest.raises(ValueError, match="not a built-in dataset"):
        resolve_image_folder(tmp_path / "nope")
    (tmp_path / "flat").mkdir()
    with pytest.raises(ValueError, match="train/ and val/"):
        resolve_image_folder(tmp_path / "flat")
    with pytest.raises(ValueError, match="size"):
        image_data(tmp_path, size=4)
    with pytest.raises(ValueError, match="bs"):
        ImageLoader([1, 2], bs=0)


def test_one_class_is_refused_naming_the_folder(tmp_path):
    import shutil

    root = make_image_folder(tmp_path / "imgs", n_train=2, n_val=1)
    keep = sorted(p.name for p in (root / "train").iterdir())[0]
    for split in ("train", "val"):
        for folder in (root / split).iterdir():
            if folder.name != keep:
                shutil.rmtree(folder)
    with pytest.raises(ValueError, match=rf"found 1 class \({keep}\); a classifier needs at least 2"):
        image_data(root, size=16, workers=0)


def _tgz_of(folder, top: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(folder, arcname=top)
    return buf.getvalue()


def test_builtin_name_downloads_from_local_server(tmp_path, monkeypatch):
    src = make_image_folder(tmp_path / "src", n_train=2, n_val=1)
    served = tmp_path / "www"
    served.mkdir()
    (served / "imagenette2-160.tgz").write_bytes(_tgz_of(src, "imagenette2-160"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/imagenette2-160.tgz"
        monkeypatch.setitem(vdata.DATASETS, "imagenette-160", (url, "imagenette2-160"))
        root = resolve_image_folder("imagenette-160")
    finally:
        server.shutdown()
    assert (root / "train" / "red").is_dir() and root.name == "imagenette2-160"
    assert resolve_image_folder("imagenette-160") == root  # cached: no server needed now


def test_local_archive(tmp_path):
    src = make_image_folder(tmp_path / "src", n_train=2, n_val=1)
    arc = tmp_path / "mydata.tgz"
    arc.write_bytes(_tgz_of(src, "mydata"))
    root = resolve_image_folder(arc)
    assert (root / "val" / "blue").is_dir()
    assert resolve_image_folder(arc) == root


def test_imagenette_urls_and_names():
    assert vdata.DATASETS["imagewoof-320"][0] == "https://s3.amazonaws.com/fast-ai-imageclas/imagewoof2-320.tgz"
    assert len({k for k in vdata.CLASS_NAMES}) == 20


def test_hf_source_with_local_dataset(monkeypatch):
    datasets = pytest.importorskip("datasets")
    import numpy as np

    def split(n, seed):
        rng = np.random.default_rng(seed)
        imgs = [Image.fromarray(rng.integers(0, 255, (20, 24), dtype=np.uint8), "L") for _ in range(n)]  # grey
        feats = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(names=["cat", "dog"])})
        return datasets.Dataset.from_dict({"img": imgs, "label": [i % 2 for i in range(n)]}, features=feats)

    dd = datasets.DatasetDict({"train": split(6, 0), "test": split(4, 1)})
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda name: calls.append(name) or dd)
    d = image_data("hf:someone/pets", size=16, bs=2, workers=0, device="cpu")
    assert calls == ["someone/pets"] and d.classes == ["cat", "dog"]
    x, y = next(iter(d.valid))
    assert x.shape == (2, 3, 16, 16) and y.tolist() == [0, 1]
    monkeypatch.setattr(datasets, "load_dataset", lambda name: datasets.DatasetDict({"train": split(2, 0)}))
    with pytest.raises(ValueError, match="validation/val/test"):
        image_data("hf:x", size=16, workers=0)


def test_image_split_of_a_hf_source(monkeypatch):
    datasets = pytest.importorskip("datasets")

    feats = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(names=["cat", "dog"])})
    imgs = [Image.new("L", (8, 8), i * 40) for i in range(3)]
    split = datasets.Dataset.from_dict({"img": imgs, "label": [0, 1, 1]}, features=feats)
    dd = datasets.DatasetDict({"train": split, "validation": split.select([2]), "test": split.select([0, 1])})
    monkeypatch.setattr(datasets, "load_dataset", lambda name: dd)
    for name, actual, n in (("valid", "validation", 1), ("test", "test", 2), ("train", "train", 3)):
        ds, classes, got = image_split("hf:x", name, valid_transform(8))
        assert (len(ds), classes, got) == (n, ["cat", "dog"], actual)
    assert ds[1][0].shape == (3, 8, 8) and ds[1][1] == 1
    with pytest.raises(ValueError, match=r"no split 'holdout' \(splits: train, validation, test; 'valid' is "):
        image_split("hf:x", "holdout")


def test_sampler_follows_process_group_at_iteration_time(monkeypatch):
    import ulmfit.train.distributed as dist

    loader = ImageLoader(_indices(10), bs=1, shuffle=True, seed=4)  # built before the group exists
    loader.set_epoch(3)
    full = _seen(loader)
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    assert len(loader) == 5 and _seen(loader) == full[1::2]
    assert isinstance(loader.sampler, DistributedSampler) and loader.sampler.epoch == 3
    assert (loader.sampler.rank, loader.sampler.num_replicas) == (1, 2) and len(loader.sampler) == 5
    with pytest.raises(ValueError, match="rank"):
        ImageLoader(_indices(4), bs=1, rank=2, world_size=2)


def test_folder_datasets_are_dataset_folders_with_train_class_indices(tmp_path):
    root = make_image_folder(tmp_path / "imgs", n_train=2, n_val=1)
    (root / "val").rename(root / "validation")
    for f in (root / "validation" / "blue").iterdir():  # val lacks a class: the others keep train's indices
        f.unlink()
    (root / "validation" / "blue").rmdir()
    (root / "train" / "red" / "notes.txt").write_text("not an image, skipped by extension")
    (root / "train" / "red" / "UPPER.PNG").write_bytes((root / "train" / "red" / "0.png").read_bytes())
    train, valid, classes = resolve_source(root, None, None)
    assert classes == ["blue", "green", "red"]
    assert isinstance(train, DatasetFolder) and isinstance(valid, ImageFolderSplit)
    assert train.classes == valid.classes == classes and valid.class_to_idx == {"blue": 0, "green": 1, "red": 2}
    assert [(p.split("/")[-2:], y) for p, y in valid.samples] == [(["green", "0.png"], 1), (["red", "0.png"], 2)]
    assert [y for _, y in train.samples] == [0, 0, 1, 1, 2, 2, 2] and train.samples[-1][0].endswith("UPPER.PNG")
    img, y = train[0]
    assert img.mode == "RGB" and y == 0


@pytest.mark.parametrize("valid_name", ["val", "valid", "validation", "test"])
def test_valid_folder_names(tmp_path, valid_name):
    root = make_image_folder(tmp_path / "imgs", n_train=1, n_val=1)
    if valid_name != "val":
        (root / "val").rename(root / valid_name)
    assert resolve_image_folder(root) == root
    _, valid, _ = resolve_source(root, None, None)
    assert {p.split("/")[-3] for p, _ in valid.samples} == {valid_name}


def test_image_split_picks_one_split_folder(tmp_path):
    root = make_image_folder(tmp_path / "imgs", n_train=2, n_val=1)
    (root / "val").rename(root / "valid")
    ds, classes, name = image_split(root, "valid", valid_transform(16))
    assert (len(ds), classes, name) == (3, ["blue", "green", "red"], "valid")  # valid: what training validates on
    x, y = ds[0]
    assert x.shape == (3, 16, 16) and y == 0
    assert len(image_split(root, "train")[0]) == 6 and image_split(root, "train")[2] == "train"
    (root / "holdout" / "red").mkdir(parents=True)
    (root / "holdout" / "red" / "a.png").write_bytes((root / "train" / "red" / "0.png").read_bytes())
    ds, _, name = image_split(root, "holdout")
    assert name == "holdout" and [y for _, y in ds.samples] == [2]  # labelled by train/'s classes
    for bad in ("test", "", "..", "valid/red"):
        with pytest.raises(ValueError, match=r"has no split .* \(splits: holdout, train, valid; 'valid' is valid/"):
            image_split(root, bad)
    (root / "holdout" / "purple").mkdir()
    with pytest.raises(ValueError, match=r"holdout has class folders not in .*train: \['purple'\]"):
        image_split(root, "holdout")


def test_folder_errors_name_the_folder(tmp_path):
    root = make_image_folder(tmp_path / "imgs", n_train=1, n_val=1)
    (root / "val" / "purple").mkdir()
    with pytest.raises(ValueError, match=r"imgs/val has class folders not in .*imgs/train: \['purple'\]"):
        resolve_source(root, None, None)
    (root / "val" / "purple").rmdir()
    for f in (root / "val").rglob("*.png"):
        f.unlink()
    with pytest.raises(ValueError, match=r"no image files \(\.jpg.*found under .*imgs/val"):
        resolve_source(root, None, None)
    empty = tmp_path / "empty"
    (empty / "train").mkdir(parents=True)
    (empty / "val").mkdir()
    with pytest.raises(ValueError, match=r"empty/train has no class folders"):
        resolve_source(empty, None, None)


def test_bad_image_file_in_a_folder_is_reported_by_name(tmp_path):
    root = make_image_folder(tmp_path / "imgs", n_train=1, n_val=1)
    (root / "val" / "green" / "0.png").write_bytes(b"truncated")
    d = image_data(root, size=16, bs=4, workers=0, device="cpu")
    with pytest.raises(ValueError, match=r"cannot read image file '.*val/green/0.png'"):
        list(d.valid)


def test_v2_transforms_match_the_v1_pipeline():
    from torchvision import transforms as T

    img = Image.fromarray(torch.randint(0, 256, (37, 53, 3), dtype=torch.uint8).numpy())
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    v1_train = T.Compose([T.RandomResizedCrop(24, scale=(0.35, 1.0)), T.RandomHorizontalFlip(), T.ToTensor(),
                          T.Normalize(mean, std)])
    v1_valid = T.Compose([T.Resize(round(24 / 0.875)), T.CenterCrop(24), T.ToTensor(), T.Normalize(mean, std)])
    for seed in range(4):  # same RNG draws, same crops and flips, same pixels
        torch.manual_seed(seed)
        ref = v1_train(img)
        torch.manual_seed(seed)
        out = train_transform(24, mean, std)(img)
        assert type(out) is torch.Tensor and out.dtype == torch.float32 and out.shape == (3, 24, 24)
        torch.testing.assert_close(out, ref)
    out = valid_transform(24, mean, std)(img)
    assert type(out) is torch.Tensor
    torch.testing.assert_close(out, v1_valid(img))
