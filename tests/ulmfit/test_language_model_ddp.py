"""Pretraining, fine-tuning and classifier training under torchrun: rank 0 alone tokenizes, every rank
trains on its ids."""

import json
from pathlib import Path

import torch

from tests.ulmfit.conftest import tiny_corpus
from tests.ulmfit.train.helpers import run_torchrun
from ulmfit.data.split import holdout_split
from ulmfit.text import Tokenizer, Vocab


def test_two_ranks_tokenize_once_and_train_the_same_models(tmp_path):
    proc = run_torchrun(Path(__file__).with_name("text_ddp_worker.py"), tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    main, other = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    # rank 0: train + valid texts of each step; rank 1 never tokenizes
    assert main["calls"] == [2, 4, 6] and other["calls"] == [0, 0, 0]
    assert main["classifier_valid"] == other["classifier_valid"]
    assert proc.stdout.count("tokenized 36 train / 4 valid documents") == 1
    # every rank got rank 0's vocabulary and ids, the ones a single process builds from the same texts
    texts = tiny_corpus()[:40]
    train_idx, valid_idx = holdout_split(len(texts), 0.1, 42)
    tokens = Tokenizer().tokenize([texts[i] for i in train_idx], n_workers=1)
    vocab = Vocab.build(tokens, min_freq=2)
    assert main["pretrain_itos"] == other["pretrain_itos"] == list(vocab.itos)
    assert main["train"] == other["train"] == [vocab.numericalize(t) for t in tokens]
    valid = Tokenizer().tokenize([texts[i] for i in valid_idx], n_workers=1)
    assert main["valid"] == other["valid"] == [vocab.numericalize(t) for t in valid]
    # fine-tuning added words on rank 0, and rank 1 matched its network to the same vocabulary
    assert main["fine_tune_itos"] == other["fine_tune_itos"] and len(main["fine_tune_itos"]) > len(vocab)
    for step in ("pretrain", "fine_tune", "classifier"):
        a, b = (torch.load(tmp_path / f"rank{r}_{step}.pt", weights_only=True) for r in (0, 1))
        assert a.keys() == b.keys() and [k for k in a if not torch.equal(a[k], b[k])] == [], step
