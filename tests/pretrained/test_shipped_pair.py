"""The shipped forward/backward pair (ulmfit-en-fwd, ulmfit-en-bwd): loads offline by name, ensembles out of
the box, and its measured figures match the model cards."""

import json
import re

import pytest

from ulmfit.hub.registry import PACKAGE_DIR

FOLDERS = {d: PACKAGE_DIR / f"en_{d}" for d in ("fwd", "bwd")}
pytestmark = pytest.mark.skipif(not all((f / "model.pt").is_file() for f in FOLDERS.values()),
                                reason="the shipped pair is not built yet")


@pytest.fixture(scope="module")
def pair():
    from ulmfit import LanguageModel

    return {d: LanguageModel.from_pretrained(f"ulmfit-en-{d}") for d in FOLDERS}


def test_directions_and_shared_vocabulary_rules(pair):
    assert not pair["fwd"].backwards and pair["bwd"].backwards
    assert pair["fwd"].vocab.itos == pair["bwd"].vocab.itos  # same corpus, split and vocabulary rules


def test_the_pair_ensembles_out_of_the_box(pair, tmp_path):
    from ulmfit import ClassifierEnsemble, TextClassifier, load_classifier
    from ulmfit.demo import load_demo_data

    (texts, labels), (vtexts, vlabels) = load_demo_data()
    quick = dict(stage_epochs=(1, 0, 0, 0), bs=32, progress=False, valid_pct=0.0)
    members = [TextClassifier.train(texts[:64], labels[:64], lm=pair[d], **quick) for d in ("fwd", "bwd")]
    assert members[1].backwards and not members[0].backwards
    ens = ClassifierEnsemble(members)
    probs = ens.predict_proba(vtexts[:8])
    expected = (members[0].predict_proba(vtexts[:8]) + members[1].predict_proba(vtexts[:8])) / 2
    assert abs(probs - expected).max() < 1e-6
    ens.save(tmp_path / "ens")
    assert (load_classifier(tmp_path / "ens").predict_proba(vtexts[:8]) == probs).all()


def test_check_sample_perplexities_match_the_cards(pair):
    from ulmfit.demo import load_demo_data

    (train_texts, _), (valid_texts, _) = load_demo_data()
    for d, lm in pair.items():
        meta = json.loads((FOLDERS[d] / "config.json").read_text())["meta"]
        measured = lm.perplexity(train_texts + valid_texts)
        assert measured == pytest.approx(meta["check_sample"]["perplexity"], rel=0.01), d
        card = (FOLDERS[d] / "MODEL_CARD.md").read_text()
        shown = re.search(r"\| check sample \| perplexity ([0-9.]+),", card)
        # the card rounds the measured value to 2 places, config.json to 3: 157.8254 -> 157.83 and 157.825
        assert shown and abs(float(shown.group(1)) - meta["check_sample"]["perplexity"]) <= 0.0051, d


@pytest.mark.slow
def test_validation_perplexities_match_the_cards(pair, shared_data, tmp_path):
    """Rebuild the corpus and the held-out 5 % of documents (same seed); measure both models on them."""
    import subprocess
    import sys

    from tests.conftest import REPO
    from ulmfit.cli import _corpus_texts
    from ulmfit.data.split import holdout_split

    corpus = tmp_path / "corpus"
    subprocess.run([sys.executable, str(REPO / "scripts" / "prepare_pretraining_corpus.py"), "--nltk",
                    str(shared_data / "nltk"), "--out", str(corpus)], check=True, capture_output=True)
    texts = _corpus_texts(str(corpus))
    for d, lm in pair.items():
        meta = json.loads((FOLDERS[d] / "config.json").read_text())["meta"]
        hist = meta["history"][-1]
        assert len(texts) == hist["train_documents"] + hist["valid_documents"]
        _, valid_idx = holdout_split(len(texts), hist["config"]["valid_pct"], hist["config"]["seed"])
        measured = lm.evaluate([texts[i] for i in valid_idx])
        assert measured["perplexity"] == pytest.approx(meta["metrics"]["valid_perplexity"], rel=0.01), d
