"""Image data: Imagenette/Imagewoof by name, any ``train/`` + ``val/`` folder, or ``hf:NAME``.

A source resolves to two datasets of ``(image tensor (3, size, size) float32, label int)`` plus the class
names (folders: ``torchvision.datasets.DatasetFolder`` with our RGB loader; transforms: ``torchvision.transforms.v2``);
:func:`image_data` wraps them in loaders that follow the training core's loader contract (``set_epoch``:
shuffling derived from ``seed`` and the epoch, so a resumed run sees the same order; ``rank``/``world_size``
sharding under DDP, both through ``torch.utils.data.DistributedSampler``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchvision.datasets import DatasetFolder
from torchvision.datasets.folder import find_classes
from torchvision.transforms import v2

from ulmfit.hub.archive import extract_local

__all__ = [
    "DATASETS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_EXTENSIONS",
    "CLASS_NAMES",
    "ImageData",
    "ImageFolderSplit",
    "ImageLoader",
    "image_data",
    "image_split",
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
    except UnidentifiedImageError:
        raise ValueError(f"cannot read image file {str(path)!r}: not an image format PIL can open (JPEG, PNG, "
                         "WebP, BMP, GIF, TIFF, ...)") from None
    except OSError as err:
        raise ValueError(f"cannot read image file {str(path)!r}: {err}") from err


def _to_normalised_tensor(mean: Sequence[float], std: Sequence[float]) -> list:
    # PIL -> uint8 (3, H, W) -> float32 in [0, 1] (as v1's ToTensor) -> normalised plain tensor
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std), v2.ToPureTensor()]


def train_transform(size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
    """RandomResizedCrop(size, scale=(0.35, 1)) + horizontal flip + normalisation. PIL -> (3, size, size).

    The crop and resize run on the PIL image, before ``ToImage``, so the pixels are those of the former
    v1 pipeline (PIL resampling) for the same torch RNG state.
    """
    return v2.Compose([
        v2.RandomResizedCrop(size, scale=(0.35, 1.0)),
        v2.RandomHorizontalFlip(),
        *_to_normalised_tensor(mean, std),
    ])


def valid_transform(size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
    """Resize the short side to size / 0.875, centre crop ``size``, normalise. PIL -> (3, size, size)."""
    return v2.Compose([
        v2.Resize(round(size / 0.875)),
        v2.CenterCrop(size),
        *_to_normalised_tensor(mean, std),
    ])


def _to_rgb(img):
    from PIL import Image

    if not isinstance(img, Image.Image):
        img = Image.fromarray(img)  # numpy arrays from some HF datasets
    return img if img.mode == "RGB" else img.convert("RGB")


# --------------------------------------------------------------------------- datasets


class ImageFolderSplit(DatasetFolder):
    """One split folder (``train/`` or ``val/``) of ``<class>/<image files>``, labelled by a given class list.

    A ``DatasetFolder`` read with :func:`load_rgb` (a bad file raises a ValueError naming it) whose classes
    are fixed by the caller, so that ``val/`` gets ``train/``'s indices even when it lacks some classes.
    Item: (transform(RGB PIL image), label int); ``.samples`` lists ``(path, label)`` sorted by class, then path.
    """

    def __init__(self, root: str | os.PathLike, classes: Sequence[str], transform: Callable | None = None) -> None:
        self._fixed_classes = list(classes)
        super().__init__(root, loader=load_rgb, extensions=IMAGE_EXTENSIONS, transform=transform, allow_empty=True)
        if not self.samples:
            raise ValueError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found under {root}")

    def find_classes(self, directory: str | os.PathLike) -> tuple[list[str], dict[str, int]]:
        return self._fixed_classes, {c: i for i, c in enumerate(self._fixed_classes)}


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


def _folder_splits(root: Path) -> tuple[Path, Path, list[str]]:
    """``(train/, the validation folder, classes)`` of a split root; the classes are train/'s subfolders."""
    train_dir = root / "train"
    valid_dir = next((root / n for n in _VALID_NAMES if (root / n).is_dir()), None)
    if not train_dir.is_dir() or valid_dir is None:
        raise ValueError(f"image folder {str(root)!r} must hold train/ and val/ (or valid/, validation/, test/) "
                         "subfolders with one folder per class")
    try:
        classes, _ = find_classes(train_dir)  # sorted subfolder names, as ImageFolder
    except FileNotFoundError:
        raise ValueError(f"{train_dir} has no class folders: expected train/<class>/<image files>") from None
    return train_dir, valid_dir, classes


def _check_split_classes(split_dir: Path, train_dir: Path, classes: Sequence[str]) -> None:
    unknown = sorted(d.name for d in split_dir.iterdir() if d.is_dir() and d.name not in classes)
    if unknown:
        raise ValueError(f"{split_dir} has class folders not in {train_dir}: {unknown[:5]}")


def _folder_datasets(
    root: Path, train_tfm: Callable | None, valid_tfm: Callable | None
) -> tuple[ImageFolderSplit, ImageFolderSplit, list[str]]:
    train_dir, valid_dir, classes = _folder_splits(root)
    _check_split_classes(valid_dir, train_dir, classes)
    return ImageFolderSplit(train_dir, classes, train_tfm), ImageFolderSplit(valid_dir, classes, valid_tfm), classes


def _is_split_root(p: Path) -> bool:
    return (p / "train").is_dir() and any((p / n).is_dir() for n in _VALID_NAMES)


_ARCHIVES = (".tgz", ".tar.gz", ".tar", ".zip")


def resolve_image_folder(source: str | os.PathLike) -> Path:
    """The local ``train/`` + ``val/`` folder for a built-in name (downloaded and cached once), a folder,
    or an archive (.tgz/.tar.gz/.tar/.zip, extracted into the cache)."""
    name = str(source)
    if name in DATASETS:
        from ulmfit.hub.download import fetch

        url, sub = DATASETS[name]
        root = Path(fetch(url, extract=True))
    else:
        path = Path(name).expanduser()
        if path.is_file() and name.endswith(_ARCHIVES):
            root, sub = extract_local(path), None
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
    return _folder_datasets(resolve_image_folder(name), train_tfm, valid_tfm)


def image_split(source: str | os.PathLike, split: str = "valid",
                transform: Callable | None = None) -> tuple[Dataset, list[str], str]:
    """One split of a source (as :func:`resolve_source` takes it), e.g. to evaluate a model on.

    split: ``"valid"`` (the split training validates on: the first of val/, valid/, validation/, test/, or
    the Hugging Face validation split), ``"train"``, or the exact name of another split folder or HF split.
    Returns ``(dataset of (transform(RGB image), label), the source's classes, the split's own name)``; labels
    index the source's classes (train/'s class folders, or the HF ClassLabel names). A split that does not
    exist raises a ValueError listing those that do.
    """
    name = str(source)
    if name.startswith("hf:"):
        dd, image_key, label_key, classes, valid_name = _hf_splits(name[3:])
        actual = valid_name if split == "valid" else split
        if actual not in dd:
            raise ValueError(f"Hugging Face dataset {name[3:]!r} has no split {split!r} (splits: {', '.join(dd)}; "
                             f"'valid' is {valid_name!r}, the one training validates on)")
        return _HFImageDataset(dd[actual], image_key, label_key, transform), classes, actual
    root = resolve_image_folder(name)
    train_dir, valid_dir, classes = _folder_splits(root)
    plain = split not in ("", ".", "..") and Path(split).name == split  # a folder of root, not a path
    split_dir = valid_dir if split == "valid" else root / split
    if not plain or not split_dir.is_dir():
        found = ", ".join(sorted(d.name for d in root.iterdir() if d.is_dir()))
        raise ValueError(f"image folder {str(root)!r} has no split {split!r} (splits: {found}; 'valid' is "
                         f"{valid_dir.name}/, the one training validates on)")
    _check_split_classes(split_dir, train_dir, classes)
    return ImageFolderSplit(split_dir, classes, transform), classes, split_dir.name


def _hf_splits(name: str):
    """``(DatasetDict, image column, label column, class names, validation split name)`` of ``hf:NAME``."""
    import datasets  # heavy, optional: imported only for hf: sources

    if not name:
        raise ValueError("hf: needs a dataset name, e.g. hf:frgfm/imagenette")
    from ulmfit.hub.hf import HubDatasetError, load_hub_dataset

    try:
        dd = load_hub_dataset(name)
    except HubDatasetError as err:
        raise ValueError(f"image data 'hf:{name}': {err.reason}; download it once with a network (it is then "
                         "read from the Hugging Face cache), or use a train/ + val/ folder") from None
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
    return dd, image_key, label_key, list(feats[label_key].names), valid_name


def _hf_source(name: str, train_tfm, valid_tfm):
    dd, image_key, label_key, classes, valid_name = _hf_splits(name)
    return (_HFImageDataset(dd["train"], image_key, label_key, train_tfm),
            _HFImageDataset(dd[valid_name], image_key, label_key, valid_tfm), classes)


# --------------------------------------------------------------------------- loaders


class ImageLoader:
    """Batches ``(x (B, 3, S, S) float32, y (B,) int64)`` from a dataset, with worker processes.

    The indices come from a ``DistributedSampler`` (``num_replicas=1, rank=0`` in a single process): a
    permutation seeded by ``seed + epoch`` (or in order), padded to a multiple of the world size, then this
    rank's shard ``[rank::world_size]``. ``set_epoch(e)`` reseeds that shuffling and the workers'
    augmentation RNG from ``(seed, e)``. ``rank``/``world_size`` None: shard as ``torch.distributed`` says
    when the loader is iterated (none if not initialised), so a loader built before torchrun's process
    group exists still shards.
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
        if world_size is not None and not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank!r}")
        self.dataset, self.bs, self.shuffle, self.drop_last, self.seed = dataset, bs, shuffle, drop_last, seed
        self.num_workers, self.pin_memory, self.rank, self.world_size = num_workers, pin_memory, rank, world_size
        self.epoch = 0
        self._gen = torch.Generator()
        self._gen.manual_seed(seed)
        self.sampler: DistributedSampler | None = None
        self.dl: DataLoader | None = None
        self._dataloader()

    def _shard(self) -> tuple[int, int]:
        if self.world_size is not None:
            return self.rank, self.world_size
        from ulmfit.train.distributed import get_rank, get_world_size

        return get_rank(), get_world_size()

    def _dataloader(self) -> DataLoader:
        """The DataLoader for the current shard, rebuilt when the process group changed it."""
        rank, world = self._shard()
        if self.sampler is None or (self.sampler.rank, self.sampler.num_replicas) != (rank, world):
            # drop_last=False: pad the index list so that every rank gets as many samples (the batches'
            # drop_last is the DataLoader's)
            self.sampler = DistributedSampler(self.dataset, num_replicas=world, rank=rank, shuffle=self.shuffle,
                                              seed=self.seed, drop_last=False)
            self.sampler.set_epoch(self.epoch)
            self.dl = DataLoader(
                self.dataset,
                batch_size=self.bs,
                sampler=self.sampler,
                drop_last=self.drop_last,
                num_workers=self.num_workers,
                pin_memory=self.pin_memory,
                # Workers restart every epoch so that their augmentation RNG is reseeded from (seed, epoch):
                # a resumed run then sees the same crops. Persistent workers would keep their first seeds.
                persistent_workers=False,
                generator=self._gen,
            )
        return self.dl

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.sampler.set_epoch(self.epoch)
        self._gen.manual_seed(self.seed * 100_003 + self.epoch)

    def __len__(self) -> int:
        return len(self._dataloader())

    def __iter__(self):
        return iter(self._dataloader())


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
    if len(classes) < 2:
        raise ValueError(f"{source}: found {len(classes)} class ({', '.join(map(str, classes)) or 'none'}); a "
                         "classifier needs at least 2, one sub-folder of train/ and val/ per class")
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
