"""Fixtures for the high-level API tests: a tiny language model saved in a folder."""

import pytest


def tiny_corpus() -> list[str]:
    from ulmfit.demo import load_demo_data

    (train_texts, _), _ = load_demo_data()
    return train_texts


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory):
    """A randomly initialised small LM (vocab from the demo texts) saved as a model folder."""
    from ulmfit.language_model import LanguageModel
    from ulmfit.models import AWDLSTMConfig
    from ulmfit.text import Tokenizer, Vocab

    tok = Tokenizer()
    vocab = Vocab.build(tok.tokenize(tiny_corpus()[:200], n_workers=1), min_freq=2)
    arch = AWDLSTMConfig(emb_sz=16, n_hid=24, n_layers=2)
    lm = LanguageModel.from_scratch(vocab, tok, arch)
    folder = tmp_path_factory.mktemp("tiny_lm")
    lm.save(folder)
    return folder
