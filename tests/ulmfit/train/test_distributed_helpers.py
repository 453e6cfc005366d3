import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import ulmfit.train.distributed as D


def test_single_process_helpers():
    assert D.get_rank() == 0 and D.get_world_size() == 1 and D.is_main_process() and not D.is_distributed()
    assert D.all_reduce_sum([1.0, 2.0], torch.device("cpu")) == [1.0, 2.0]


@pytest.mark.parametrize("shuffle", [True, False])
def test_shard_loader_gives_plain_dataloader_a_distributed_sampler(monkeypatch, shuffle):
    ds = TensorDataset(torch.arange(20.0), torch.arange(20))
    dl = DataLoader(ds, batch_size=4, shuffle=shuffle)
    assert D.shard_loader(dl) is dl  # not distributed: unchanged
    monkeypatch.setattr(D, "is_distributed", lambda: True)
    monkeypatch.setattr(D, "get_world_size", lambda: 2)
    served = []
    for rank in (0, 1):
        monkeypatch.setattr(D, "get_rank", lambda rank=rank: rank)
        sharded = D.shard_loader(dl, seed=3)
        assert isinstance(sharded.sampler, DistributedSampler) and sharded.sampler.shuffle == shuffle
        assert len(sharded) == 3  # 10 items per rank, batches of 4
        served.append(torch.cat([x for x, _ in sharded]))
    assert sorted(torch.cat(served).tolist()) == list(range(20))  # the ranks split the data
    assert D.shard_loader(sharded) is sharded  # already sharded


def test_learner_warns_only_for_a_loader_fixed_to_another_world_size(monkeypatch):
    import warnings

    import ulmfit.train.learner as L

    class Loader(list):
        def __init__(self, world_size):
            super().__init__([(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))])
            self.world_size = world_size

    monkeypatch.setattr(L, "get_world_size", lambda: 2)
    monkeypatch.setattr(L, "shard_loader", lambda dl, seed=0: dl)
    model = torch.nn.Linear(3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        L.Learner(model, Loader(None), Loader(2), torch.nn.functional.cross_entropy)  # None: follows the group
    with pytest.warns(UserWarning, match="world_size=1 but 2 processes"):
        L.Learner(model, Loader(1), None, torch.nn.functional.cross_entropy)
