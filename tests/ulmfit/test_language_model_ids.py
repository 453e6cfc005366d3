"""``LanguageModel.pretrain_ids``: pretraining on a corpus tokenized elsewhere (no tokenizer runs)."""

import numpy as np
import pytest
import torch

from tests.ulmfit.conftest import tiny_corpus
from ulmfit.data.split import holdout_split
from ulmfit.language_model import LanguageModel, LMPretrainConfig
from ulmfit.models import AWDLSTMConfig
from ulmfit.text import Tokenizer

TINY = dict(epochs=1, bs=8, bptt=16, min_freq=2, valid_pct=0.1, precision="fp32")
ARCH = AWDLSTMConfig(emb_sz=16, n_hid=24, n_layers=2)


def _same_as_pretrain_on_the_texts(backwards: bool) -> None:
    texts = tiny_corpus()[:60]
    config = LMPretrainConfig(**TINY, backwards=backwards)
    from_texts = LanguageModel.pretrain(texts, tokenizer=Tokenizer(), arch=ARCH, config=config, progress=False,
                                        n_workers=1)
    train_idx, valid_idx = holdout_split(len(texts), config.valid_pct, config.seed)
    tokenizer, vocab = from_texts.tokenizer, from_texts.vocab
    ids = [np.asarray(vocab.numericalize(t)) for t in tokenizer.tokenize(texts, n_workers=1)]
    from_ids = LanguageModel.pretrain_ids([ids[i] for i in train_idx], [ids[i] for i in valid_idx], vocab=vocab,
                                          tokenizer=tokenizer, arch=ARCH, config=config, progress=False)
    a, b = from_texts.model.state_dict(), from_ids.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same run, bit for bit
    assert from_ids.backwards == from_ids.config.backwards == from_texts.config.backwards == backwards
    h_texts, h_ids = from_texts.meta["history"][-1], from_ids.meta["history"][-1]
    for key in ("train_tokens", "valid_tokens", "train_documents", "valid_documents", "metrics"):
        assert h_texts[key] == h_ids[key], key
    assert h_ids["valid_source"] == "given (valid_ids=)"
    valid_texts = [texts[i] for i in valid_idx]
    assert from_ids.evaluate_ids([ids[i] for i in valid_idx]) == from_ids.evaluate(valid_texts)


def test_pretrain_ids_is_pretrain_without_the_tokenizer():
    _same_as_pretrain_on_the_texts(backwards=False)


def test_pretrain_ids_reverses_the_ids_itself_for_a_backward_model():
    _same_as_pretrain_on_the_texts(backwards=True)


def test_pretrain_ids_refuses_ids_outside_the_vocab_and_a_missing_vocab():
    lm = LanguageModel.from_scratch(_vocab(), Tokenizer(), ARCH)
    config = LMPretrainConfig(**TINY)
    good = [np.arange(40) % len(lm.vocab)]
    with pytest.raises(ValueError, match=r"valid_ids\[1\] must be a 1-d array of ids in \[0, 8\).*ids 0\.\.8"):
        LanguageModel.pretrain_ids(good, [np.arange(3), np.arange(9)], vocab=lm.vocab, tokenizer=lm.tokenizer,
                                   config=config)
    with pytest.raises(ValueError, match=r"train_ids\[0\] must be a 1-d array"):
        LanguageModel.pretrain_ids([np.zeros((2, 3), dtype=int)], vocab=lm.vocab, tokenizer=lm.tokenizer,
                                   config=config)
    with pytest.raises(ValueError, match="needs vocab= and tokenizer="):
        LanguageModel.pretrain_ids(good, vocab=lm.vocab, config=config)
    with pytest.raises(ValueError, match="leave vocab= out"):
        LanguageModel.pretrain_ids(good, vocab=lm.vocab, config=config, init=lm)


def _vocab():
    from ulmfit.text import Vocab

    return Vocab(["xxunk", "xxpad", "xxbos", "xxeos", "a", "b", "c", "d"])
