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
        L.Learner(model, Loader(2), Loader(1), torch.nn.functional.cross_entropy)  # whole validation: on purpose
    with pytest.warns(UserWarning, match="world_size=1 but 2 processes"):
        L.Learner(model, Loader(1), None, torch.nn.functional.cross_entropy)


def test_the_lm_validates_on_the_whole_stream_on_every_rank(monkeypatch):
    """Under torchrun the LM's training batches are sharded but its validation is not: the epoch lines equal
    the saved figure and ``evaluate()`` on the same texts."""
    import numpy as np

    import ulmfit.data.lm_loader as LL
    import ulmfit.train.distributed as D
    import ulmfit.train.learner as L
    from tests.ulmfit.conftest import tiny_corpus
    from ulmfit.language_model import LanguageModel
    from ulmfit.models import AWDLSTMConfig
    from ulmfit.text import Tokenizer, Vocab

    tok = Tokenizer()
    tokens = tok.tokenize(tiny_corpus()[:40], n_workers=1)
    lm = LanguageModel.from_scratch(Vocab.build(tokens, min_freq=2), tok, AWDLSTMConfig(emb_sz=8, n_hid=8, n_layers=1))
    ids = lm.ids(tokens)
    monkeypatch.setattr(D, "setup_distributed", lambda *a, **k: None)
    monkeypatch.setattr(LL.torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(LL.torch.distributed, "get_rank", lambda group=None: 1)
    monkeypatch.setattr(LL.torch.distributed, "get_world_size", lambda group=None: 2)
    monkeypatch.setattr(L, "get_world_size", lambda: 2)
    monkeypatch.setattr(L, "get_rank", lambda: 1)
    monkeypatch.setattr(L, "shard_loader", lambda dl, seed=0: dl)
    learn = lm._learner(ids[:30], ids[30:], 4, 16, wd=0.0, moms=(0.9, 0.9, 0.9), precision="fp32", clip=None,
                        seed=0, path=None, progress=False)
    assert (learn.train_dl.rank, learn.train_dl.world_size) == (1, 2)
    assert (learn.valid_dl.rank, learn.valid_dl.world_size) == (0, 1)
    assert int(np.sum(learn.valid_dl.lengths)) == sum(len(a) for a in ids[30:])
