"""``LanguageModel.pretrain`` under torchrun: rank 0 alone tokenizes, every rank trains on its ids."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from tests.ulmfit.conftest import tiny_corpus
from ulmfit.data.split import holdout_split
from ulmfit.text import Tokenizer, Vocab

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_tokenize_once_and_train_the_same_model(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(Path(__file__).with_name("pretrain_ddp_worker.py")), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    main, other = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert main["tokenize_calls"] == 2 and other["tokenize_calls"] == 0  # train + valid, on rank 0 only
    assert proc.stdout.count("tokenized 36 train / 4 valid documents") == 1
    # every rank got rank 0's vocabulary and ids, the ones a single process builds from the same texts
    texts = tiny_corpus()[:40]
    train_idx, valid_idx = holdout_split(len(texts), 0.1, 42)
    tokens = Tokenizer().tokenize([texts[i] for i in train_idx], n_workers=1)
    vocab = Vocab.build(tokens, min_freq=2)
    assert main["itos"] == other["itos"] == list(vocab.itos)
    assert main["train"] == other["train"] == [vocab.numericalize(t) for t in tokens]
    valid = Tokenizer().tokenize([texts[i] for i in valid_idx], n_workers=1)
    assert main["valid"] == other["valid"] == [vocab.numericalize(t) for t in valid]
    a, b = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
