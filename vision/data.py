"""Image data: Imagenette/Imagewoof by name, any ``train/`` + ``val/`` folder, or ``hf:NAME``.

A source resolves to two datasets of ``(image tensor (3, size, size) float32, label int)`` plus the class
names; :func:`image_data` wraps them in loaders that follow the training core's loader contract
(``set_epoch``: shuffling derived from ``seed`` and the epoch, so a resumed run sees the same order;
``rank``/``world_size`` sharding under DDP).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

__all__ = [
    "DATASETS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_EXTENSIONS",
    "CLASS_NAMES",
    "ImageData",
    "ImageFileDataset",
    "ImageLoader",
    "EpochSampler",
    "image_data",
    "load_rgb",
    "resolve_image_folder",
    "resolve_source",
    "train_transform",
    "valid_transform",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

_S3 = "https://s3.amazonaws.com/fast-ai-imageclas/"
#: Built-in datasets: name -> (archive URL, folder inside the archive). From the Imagenette README.
DATASETS: dict[str, tuple[str, str]] = {
    "imagenette": (_S3 + "imagenette2.tgz", "imagenette2"),
    "imagenette-320": (_S3 + "imagenette2-320.tgz", "imagenette2-320"),
    "imagenette-160": (_S3 + "imagenette2-160.tgz", "imagenette2-160"),
    "imagewoof": (_S3 + "imagewoof2.tgz", "imagewoof2"),
    "imagewoof-320": (_S3 + "imagewoof2-320.tgz", "imagewoof2-320"),
    "imagewoof-160": (_S3 + "imagewoof2-160.tgz", "imagewoof2-160"),
}

#: Readable names for the WordNet ids used as Imagenette / Imagewoof folder names.
CLASS_NAMES: dict[str, str] = {
    # Imagenette
    "n01440764": "tench",
    "n02102040": "English springer",
    "n02979186": "cassette player",
    "n03000684": "chain saw",
    "n03028079": "church",
    "n03394916": "French horn",
    "n03417042": "garbage truck",
    "n03425413": "gas pump",
    "n03445777": "golf ball",
    "n03888605": "parachute",
    # Imagewoof
    "n02086240": "Shih-Tzu",
    "n02087394": "Rhodesian ridgeback",
    "n02088364": "beagle",
    "n02089973": "English foxhound",
    "n02093754": "Border terrier",
    "n02096294": "Australian terrier",
    "n02099601": "golden retriever",
    "n02105641": "Old English sheepdog",
    "n02111889": "Samoyed",
    "n02115641": "dingo",
}

_VALID_NAMES = ("val", "valid", "validation", "test")


# --------------------------------------------------------------------------- transforms


def load_rgb(path: str | os.PathLike):
    """Open an image file as an RGB PIL image (greyscale, palette, RGBA and CMYK files are converted)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with open(path, "rb") as f:
            img = Image.open(f)
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"cannot read image file {str(path)!r}: {err}") from err


def train_transform(size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
    """RandomResizedCrop(size, scale=(0.35, 1)) + horizontal flip + normalisation. PIL -> (3, size, size)."""
    from torchvision import transforms as T

    return T.Compose([
        T.RandomResizedCrop(size, scale=(0.35, 1.0)),
        T.RandomHorizontalFlip(),
        T.ToTensor(),
        T.Normalize(mean, std),
    ])


def valid_transform(size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
    """Resize the short side to size / 0.875, centre crop ``size``, normalise. PIL -> (3, size, size)."""
    from torchvision import transforms as T

    return T.Compose([
        T.Resize(round(size / 0.875)),
        T.CenterCrop(size),
        T.ToTensor(),
        T.Normalize(mean, std),
    ])


def _to_rgb(img):
    from PIL import Image

    if not isinstance(img, Image.Image):
        img = Image.fromarray(img)  # numpy arrays from some HF datasets
    return img if img.mode == "RGB" else img.convert("RGB")


# --------------------------------------------------------------------------- datasets


class ImageFileDataset(Dataset):
    """``(path, label)`` pairs read as RGB images. Item: (transform(image), label int)."""

    def __init__(self, samples: Sequence[tuple[str, int]], transform: Callable | None = None) -> None:
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        path, label = self.samples[i]
        img = load_rgb(path)
        return (self.transform(img) if self.transform is not None else img), label


class _HFImageDataset(Dataset):
    """A Hugging Face split with an Image column and a ClassLabel column."""

    def __init__(self, split, image_key: str, label_key: str, transform: Callable | None = None) -> None:
        self.split, self.image_key, self.label_key, self.transform = split, image_key, label_key, transform

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int):
        row = self.split[int(i)]
        img = _to_rgb(row[self.image_key])
        return (self.transform(img) if self.transform is not None else img), int(row[self.label_key])


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def _folder_samples(root: Path) -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[str]]:
    train_dir = root / "train"
    valid_dir = next((root / n for n in _VALID_NAMES if (root / n).is_dir()), None)
    if not train_dir.is_dir() or valid_dir is None:
        raise ValueError(f"image folder {str(root)!r} must hold train/ and val/ (or valid/, validation/, test/) "
                         "subfolders with one folder per class")
    classes = sorted(d.name for d in train_dir.iterdir() if d.is_dir())
    if not classes:
        raise ValueError(f"{train_dir} has no class folders: expected train/<class>/<image files>")
    idx = {c: i for i, c in enumerate(classes)}
    unknown = sorted(d.name for d in valid_dir.iterdir() if d.is_dir() and d.name not in idx)
    if unknown:
        raise ValueError(f"{valid_dir} has class folders not in {train_dir}: {unknown[:5]}")

    def samples(split_dir: Path) -> list[tuple[str, int]]:
        out = []
        for c in classes:
            if (split_dir / c).is_dir():
                out.extend((str(p), idx[c]) for p in _list_images(split_dir / c))
        if not out:
            raise ValueError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found under {split_dir}")
        return out

    return samples(train_dir), samples(valid_dir), classes


def _is_split_root(p: Path) -> bool:
    return (p / "train").is_dir() and any((p / n).is_dir() for n in _VALID_NAMES)


_ARCHIVES = (".tgz", ".tar.gz", ".tar", ".zip")


def _extract_local_archive(path: Path) -> Path:
    """Extract a local archive once into ``cache_dir()/extracted/<stem>-<sha of path+mtime>``."""
    import hashlib
    import shutil
    import tempfile

    from ulmfit.data.download import archive_stem, cache_dir, extract

    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
    dest = cache_dir() / "extracted" / f"{archive_stem(path)}-{key}"
    if not dest.is_dir():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".tmp-"))
        try:
            extract(path, tmp)
            os.replace(tmp, dest)  # atomic: a half-extracted folder is never taken for a finished one
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return dest


def resolve_image_folder(source: str | os.PathLike) -> Path:
    """The local ``train/`` + ``val/`` folder for a built-in name (downloaded and cached once), a folder,
    or an archive (.tgz/.tar.gz/.tar/.zip, extracted into the cache)."""
    name = str(source)
    if name in DATASETS:
        from ulmfit.data.download import fetch

        url, sub = DATASETS[name]
        root = Path(fetch(url, extract=True))
    else:
        path = Path(name).expanduser()
        if path.is_file() and name.endswith(_ARCHIVES):
            root, sub = _extract_local_archive(path), None
        elif path.is_dir():
            root, sub = path, None
        else:
            raise ValueError(f"image data {name!r} is not a built-in dataset ({', '.join(DATASETS)}), an existing "
                             "folder with train/ and val/, an image archive, or hf:NAME")
    for cand in (root, root / sub if sub else None, *(sorted(root.iterdir()) if root.is_dir() else [])):
        if cand is not None and cand.is_dir() and _is_split_root(cand):
            return cand
    raise ValueError(f"image folder {str(root)!r} must hold train/ and val/ (or valid/, validation/, test/) "
                     "subfolders with one folder per class")


def resolve_source(
    source: str | os.PathLike, train_tfm: Callable | None, valid_tfm: Callable | None
) -> tuple[Dataset, Dataset, list[str]]:
    """``(train dataset, valid dataset, classes)`` for a built-in name, a folder, an archive or ``hf:NAME``."""
    name = str(source)
    if name.startswith("hf:"):
        return _hf_source(name[3:], train_tfm, valid_tfm)
    train_s, valid_s, classes = _folder_samples(resolve_image_folder(name))
    return ImageFileDataset(train_s, train_tfm), ImageFileDataset(valid_s, valid_tfm), classes


def _hf_source(name: str, train_tfm, valid_tfm):
    import datasets  # heavy, optional: imported only for hf: sources

    if not name:
        raise ValueError("hf: needs a dataset name, e.g. hf:frgfm/imagenette")
    dd = datasets.load_dataset(name)
    if "train" not in dd:
        raise ValueError(f"Hugging Face dataset {name!r} has no 'train' split (splits: {list(dd)})")
    valid_name = next((s for s in ("validation", "valid", "val", "test") if s in dd), None)
    if valid_name is None:
        raise ValueError(f"Hugging Face dataset {name!r} has no validation/val/test split (splits: {list(dd)})")
    feats = dd["train"].features
    image_key = next((k for k, f in feats.items() if isinstance(f, datasets.Image)), None)
    label_key = next((k for k, f in feats.items() if isinstance(f, datasets.ClassLabel)), None)
    if image_key is None or label_key is None:
        raise ValueError(f"Hugging Face dataset {name!r} needs an Image column and a ClassLabel column, "
                         f"got features {dict(feats)}")
    classes = list(feats[label_key].names)
    return (_HFImageDataset(dd["train"], image_key, label_key, train_tfm),
            _HFImageDataset(dd[valid_name], image_key, label_key, valid_tfm), classes)


# --------------------------------------------------------------------------- loaders


class EpochSampler(Sampler[int]):
    """Indices for one epoch: a permutation seeded by ``(seed, epoch)`` (or in order), then this rank's
    shard (``indices[rank::world_size]`` after padding to a multiple of ``world_size``).

    ``rank``/``world_size`` None follow ``torch.distributed`` when the indices are drawn, so a loader
    built before the learner initialises the process group (torchrun) still shards.
    """

    def __init__(self, n: int, shuffle: bool, seed: int = 0, rank: int | None = None,
                 world_size: int | None = None) -> None:
        if world_size is not None and (rank is None or not 0 <= rank < world_size):
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank!r}")
        self.n, self.shuffle, self.seed, self.rank, self.world_size = n, shuffle, seed, rank, world_size
        self.epoch = 0

    def _shard(self) -> tuple[int, int]:
        if self.world_size is not None:
            return self.rank, self.world_size
        from ulmfit.train.distributed import get_rank, get_world_size

        return get_rank(), get_world_size()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return -(-self.n // self._shard()[1])

    def __iter__(self) -> Iterator[int]:
        rank, world = self._shard()
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            idx = torch.randperm(self.n, generator=g).tolist()
        else:
            idx = list(range(self.n))
        if world > 1:
            pad = -(-self.n // world) * world - self.n
            idx = (idx + idx[:pad])[rank::world]
        return iter(idx)


class ImageLoader:
    """Batches ``(x (B, 3, S, S) float32, y (B,) int64)`` from a dataset, with worker processes.

    ``set_epoch(e)`` reseeds shuffling and the workers' augmentation RNG from ``(seed, e)``.
    ``rank``/``world_size`` None: shard as ``torch.distributed`` says at iteration time (none if not
    initialised).
    """

    def __init__(
        self,
        dataset: Dataset,
        bs: int = 64,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        num_workers: int = 0,
        pin_memory: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        if not isinstance(bs, int) or bs < 1:
            raise ValueError(f"bs (batch size) must be a positive int, got {bs!r}")
        if (rank is None) != (world_size is None):
            raise ValueError(f"pass both rank and world_size or neither, got rank={rank!r}, "
                             f"world_size={world_size!r}")
        self.dataset, self.bs, self.seed = dataset, bs, seed
        self.sampler = EpochSampler(len(dataset), shuffle, seed, rank, world_size)
        self._gen = torch.Generator()
        self._gen.manual_seed(seed)
        self.dl = DataLoader(
            dataset,
            batch_size=bs,
            sampler=self.sampler,
            drop_last=drop_last,
            num_workers=num_workers,
            pin_memory=pin_memory,
            # Workers restart every epoch so that their augmentation RNG is reseeded from (seed, epoch):
            # a resumed run then sees the same crops. Persistent workers would keep their first seeds.
            persistent_workers=False,
            generator=self._gen,
        )

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)
        self._gen.manual_seed(self.seed * 100_003 + int(epoch))

    def __len__(self) -> int:
        return len(self.dl)

    def __iter__(self):
        return iter(self.dl)


@dataclass
class ImageData:
    """Loaders and metadata for one image-classification source."""

    train: ImageLoader
    valid: ImageLoader
    classes: list[str]
    size: int
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    source: str = ""
    class_names: dict[str, str] = field(default_factory=dict)  # readable names for known class ids


def image_data(
    source: str | os.PathLike,
    size: int = 128,
    bs: int = 64,
    *,
    workers: int | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    rank: int | None = None,
    world_size: int | None = None,
) -> ImageData:
    """Training and validation loaders for ``source`` (built-in name, folder, archive or ``hf:NAME``).

    Training batches are shuffled and augmented (RandomResizedCrop scale (0.35, 1), flip) and drop the
    last partial batch; validation is resized + centre-cropped, in order. ``workers=None`` uses up to 8
    worker processes; memory is pinned only when ``device`` is CUDA.
    """
    if not isinstance(size, int) or size < 8:
        raise ValueError(f"size (image side in pixels) must be an int >= 8, got {size!r}")
    mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    if len(mean) != 3 or len(std) != 3:
        raise ValueError(f"mean and std need 3 values (RGB), got mean={mean} std={std}")
    train_ds, valid_ds, classes = resolve_source(source, train_transform(size, mean, std),
                                                 valid_transform(size, mean, std))
    if workers is None:
        workers = min(8, os.cpu_count() or 1)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    pin = torch.device(device).type == "cuda"
    train_bs = min(bs, len(train_ds))
    common = dict(seed=seed, num_workers=workers, pin_memory=pin, rank=rank, world_size=world_size)
    train = ImageLoader(train_ds, train_bs, shuffle=True, drop_last=True, **common)
    valid = ImageLoader(valid_ds, bs, shuffle=False, drop_last=False, **common)
    names = {c: CLASS_NAMES[c] for c in classes if c in CLASS_NAMES}
    return ImageData(train, valid, classes, size, mean, std, str(source), names)
