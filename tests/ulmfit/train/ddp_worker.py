"""Run under ``torchrun --nproc_per_node N`` by test_distributed.py: trains the helper MLP on a global
batch of 16 split over the ranks, then rank 0 writes the weights and validation metrics to argv[1]."""

import json
import os
import sys
from pathlib import Path

import torch

from tests.ulmfit.train.helpers import MLP, EpochLoader, blobs
from ulmfit.train import Learner, accuracy


def main(out: Path) -> None:
    torch.set_num_threads(1)
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    x, y = blobs(128, seed=2)
    train_dl = EpochLoader(x, y, bs=16 // world, seed=1, rank=rank, world_size=world)
    valid_dl = EpochLoader(x[:64], y[:64], bs=32 // world, shuffle=False, rank=rank, world_size=world)
    torch.manual_seed(0)
    learn = Learner(MLP(bn=False), train_dl, valid_dl, metrics=[accuracy], path=out, progress=True, seed=0)
    assert learn.world_size == world
    learn.fit_one_cycle(2, 1e-2)
    assert learn.ddp_model is not None or world == 1
    learn.save_checkpoint(out / "checkpoint.pt")  # only rank 0 writes
    if learn.is_main:
        torch.save(learn.model.state_dict(), out / "weights.pt")
        (out / "metrics.json").write_text(json.dumps({"world": learn.world_size, **learn.validate()}))
    else:
        learn.validate()  # every rank joins the all-reduce


if __name__ == "__main__":
    main(Path(sys.argv[1]))
