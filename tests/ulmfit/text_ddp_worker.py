"""Run under ``torchrun --nproc_per_node 2`` by test_language_model_ddp.py: a tiny ``LanguageModel.pretrain``,
``fine_tune`` and ``TextClassifier.train`` with a tokenizer that counts its calls; each rank writes its
tokenize calls per step, the ids pretraining got, the vocabularies and the final weights to
argv[1]/rank<R>.json / rank<R>_<step>.pt."""

import json
import os
import sys
from pathlib import Path

import torch

from tests.ulmfit.conftest import tiny_corpus
from ulmfit.classifier import TextClassifier
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
    texts = tiny_corpus()
    lm = LanguageModel.pretrain(texts[:40], tokenizer=CountingTokenizer(), config=config, progress=False,
                                arch=AWDLSTMConfig(emb_sz=16, n_hid=24, n_layers=2), n_workers=1)
    record = {"calls": [CountingTokenizer.calls], "pretrain_itos": list(lm.vocab.itos), **seen}
    torch.save(lm.model.state_dict(), out / f"rank{rank}_pretrain.pt")
    # fine-tuning on other texts extends the vocabulary (min_freq 1: words pretraining did not keep)
    lm.fine_tune(texts[40:80], frozen_epochs=1, epochs=1, bs=4, bptt=12, min_freq=1, precision="fp32", progress=False)
    record["calls"].append(CountingTokenizer.calls)
    record["fine_tune_itos"] = list(lm.vocab.itos)
    torch.save(lm.model.state_dict(), out / f"rank{rank}_fine_tune.pt")
    labels = [i % 2 for i in range(40)]  # the default hold-out split: training and the final scores use its ids
    clf = TextClassifier.train(texts[80:120], labels, lm=lm, stage_epochs=(1, 0, 0, 1), bs=4, precision="fp32",
                               progress=False)
    record["classifier_valid"] = clf.evaluation["accuracy"]
    record["calls"].append(CountingTokenizer.calls)
    # parameters only: BatchNorm running statistics are each process's own under DDP (rank 0's are saved)
    torch.save({k: v.detach() for k, v in clf.model.named_parameters()}, out / f"rank{rank}_classifier.pt")
    (out / f"rank{rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
