"""Run under ``torchrun --nproc_per_node 2`` by test_language_model_ddp.py: a tiny ``LanguageModel.pretrain``
whose tokenizer counts its calls; each rank writes what it tokenized, the ids it trained on, its vocabulary
and its final weights to argv[1]/rank<R>.json / .pt."""

import json
import os
import sys
from pathlib import Path

import torch

from tests.ulmfit.conftest import tiny_corpus
from ulmfit.language_model import LanguageModel, LMPretrainConfig
from ulmfit.models import AWDLSTMConfig
from ulmfit.text import Tokenizer


class CountingTokenizer(Tokenizer):
    calls = 0

    def tokenize(self, texts, n_workers=None, **kwargs):
        CountingTokenizer.calls += 1
        return super().tokenize(texts, n_workers=n_workers, **kwargs)


def main(out: Path) -> None:
    torch.set_num_threads(1)
    rank = int(os.environ.get("RANK", 0))
    seen = {}
    real = LanguageModel._pretrain.__func__

    def recording(cls, train_ids, valid_ids, *args, **kwargs):
        seen["train"] = [a.tolist() for a in train_ids]
        seen["valid"] = [a.tolist() for a in valid_ids]
        return real(cls, train_ids, valid_ids, *args, **kwargs)

    LanguageModel._pretrain = classmethod(recording)
    config = LMPretrainConfig(epochs=1, bs=4, bptt=12, min_freq=2, valid_pct=0.1, precision="fp32")
    lm = LanguageModel.pretrain(tiny_corpus()[:40], tokenizer=CountingTokenizer(), config=config, progress=False,
                                arch=AWDLSTMConfig(emb_sz=16, n_hid=24, n_layers=2), n_workers=1)
    record = {"tokenize_calls": CountingTokenizer.calls, "itos": list(lm.vocab.itos), **seen}
    (out / f"rank{rank}.json").write_text(json.dumps(record))
    torch.save(lm.model.state_dict(), out / f"rank{rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
