"""The first release's small English LM (ulmfit-en-small-fwd, still shipped): loads offline, and its
measured figures match its model card."""

import json

import pytest

from ulmfit.hub.registry import PACKAGE_DIR, count_lm_params, get_entry, list_models

NAME = "ulmfit-en-small-fwd"
FOLDER = PACKAGE_DIR / "en_small_fwd"
pytestmark = pytest.mark.skipif(not (FOLDER / "model.pt").is_file(), reason="shipped model not built yet")


@pytest.fixture(scope="module")
def lm():
    from ulmfit import LanguageModel

    return LanguageModel.from_pretrained(NAME)


def test_loads_offline_by_name(lm):
    assert NAME in list_models()
    assert len(lm.vocab) == get_entry(NAME).vocab_size
    assert not lm.backwards


@pytest.mark.parametrize("name", list_models())
def test_recorded_parameter_counts_equal_the_real_ones(name):
    from ulmfit.models import AWDLSTMConfig, build_language_model

    entry = get_entry(name)
    arch = AWDLSTMConfig.from_dict({k: v for k, v in entry.arch.items() if k != "backwards"})
    model = build_language_model(entry.vocab_size, arch)
    real = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    assert entry.num_params == real == count_lm_params(entry.vocab_size, dict(entry.arch))


def test_check_sample_perplexity_matches_the_card(lm):
    from ulmfit.demo import load_demo_data

    meta = json.loads((FOLDER / "config.json").read_text())["meta"]
    (train_texts, _), (valid_texts, _) = load_demo_data()
    measured = lm.perplexity(train_texts + valid_texts)
    assert measured == pytest.approx(meta["check_sample"]["perplexity"], rel=0.02)
    assert f"{meta['check_sample']['perplexity']:.2f}" in (FOLDER / "MODEL_CARD.md").read_text()


@pytest.mark.slow
def test_validation_perplexity_matches_the_card(lm, shared_data, tmp_path):
    """Rebuild the held-out 5 % of documents (same seed) and measure them as the pretraining run did."""
    import subprocess
    import sys

    import numpy as np

    from tests.conftest import REPO

    corpus = tmp_path / "corpus"
    subprocess.run([sys.executable, str(REPO / "scripts" / "prepare_pretraining_corpus.py"), "--nltk",
                    str(shared_data / "nltk"), "--corpora", "release1", "--out", str(corpus)],
                   check=True, capture_output=True)
    from ulmfit.cli import _corpus_texts

    texts = _corpus_texts(str(corpus))  # the same document list `ulmfit pretrain` split
    meta = json.loads((FOLDER / "config.json").read_text())["meta"]
    hist = meta["history"][0]
    perm = np.random.default_rng(hist["config"]["seed"]).permutation(len(texts))
    valid = [texts[i] for i in perm[: hist["valid_documents"]]]
    measured = lm.evaluate(valid, bs=64)
    assert measured["tokens"] == pytest.approx(hist["valid_tokens"], rel=0.01)
    assert measured["perplexity"] == pytest.approx(hist["metrics"]["perplexity"], rel=0.02)
