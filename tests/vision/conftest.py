from pathlib import Path

import numpy as np
import pytest

COLOURS = {"blue": (30, 40, 220), "green": (30, 200, 40), "red": (220, 30, 30)}


def make_image_folder(root: Path, n_train: int = 6, n_val: int = 2, seed: int = 0) -> Path:
    """train/ and val/ with one folder per colour; noisy solid-colour PNGs of varying sizes."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        for name, rgb in COLOURS.items():
            d = root / split / name
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                h, w = rng.integers(30, 50, size=2)
                a = rng.integers(0, 50, (h, w, 3)) + np.array(rgb) * 0.75
                Image.fromarray(a.clip(0, 255).astype("uint8")).save(d / f"{i}.png")
    return root


@pytest.fixture
def image_folder(tmp_path) -> Path:
    return make_image_folder(tmp_path / "imgs")
