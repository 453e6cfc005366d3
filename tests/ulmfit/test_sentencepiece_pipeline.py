"""A SentencePiece language model through the whole ULMFiT pipeline: pretrain, fine-tune, classify, reload."""

import numpy as np

from tests.ulmfit.conftest import tiny_corpus
from ulmfit import LanguageModel, TextClassifier
from ulmfit.cli import main
from ulmfit.demo import load_demo_data


def test_sentencepiece_lm_pretrains_fine_tunes_and_classifies(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, text in enumerate(tiny_corpus()[:120]):
        (corpus / f"doc{i}.txt").write_text(text)
    lm_dir = tmp_path / "lm"
    main(["pretrain", "--data", str(corpus), "--out", str(lm_dir), "--tokenizer", "sentencepiece",
          "--sp-vocab-size", "300", "--emb-sz", "16", "--n-hid", "24", "--n-layers", "2", "--epochs", "1",
          "--bs", "8", "--bptt", "16", "--valid-pct", "0.1", "--quiet", "--n-workers", "1"])
    lm = LanguageModel.from_pretrained(lm_dir)
    assert lm.tokenizer.to_dict()["type"] == "sentencepiece"
    (texts, labels), (vtexts, vlabels) = load_demo_data()
    lm.fine_tune(texts[:60], epochs=1, bs=8, progress=False)
    clf = TextClassifier.train(texts[:60], labels[:60], lm=lm, valid=(vtexts[:16], vlabels[:16]),
                               stage_epochs=(1, 0, 0, 1), bs=8, progress=False)
    clf.save(tmp_path / "clf")
    assert (tmp_path / "clf" / "spm.model").is_file()
    (lm_dir / "spm.model").unlink()    # the classifier folder carries its own copy
    again = TextClassifier.load(tmp_path / "clf")
    np.testing.assert_allclose(again.predict_proba(vtexts[:16]), clf.predict_proba(vtexts[:16]), atol=1e-6)
