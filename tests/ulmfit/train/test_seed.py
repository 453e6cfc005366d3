import random

import numpy as np
import pytest
import torch

from ulmfit.train import seed_everything


def test_seed_everything_seeds_python_numpy_and_torch():
    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    seed_everything(11)
    first = draw()
    seed_everything(11)
    assert draw() == first
    seed_everything(12)
    assert draw() != first


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "7", True])
def test_bad_seed_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="seed must be an int"):
        seed_everything(bad)
