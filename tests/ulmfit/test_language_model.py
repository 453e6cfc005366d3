import json
import math

import numpy as np
import pytest
import torch

from tests.ulmfit.conftest import tiny_corpus
from ulmfit.language_model import LanguageModel, LMFineTuneConfig, detokenize
from ulmfit.model_folder import ModelFolderError


def _logits(lm, text="the service was quick and friendly"):
    ids = torch.tensor([lm.vocab.numericalize(lm.tokenizer.tokenize([text], n_workers=1)[0])])
    lm.model.eval()
    lm.model.reset()
    with torch.no_grad():
        return lm.model(ids)[0]


def test_save_load_round_trip_gives_identical_logits(tiny_lm_dir, tmp_path):
    lm = LanguageModel.from_pretrained(tiny_lm_dir)
    lm.save(tmp_path / "copy")
    again = LanguageModel.load(tmp_path / "copy")
    assert again.vocab.itos == lm.vocab.itos
    assert torch.equal(_logits(lm), _logits(again))
    for name in ("model.pt", "config.json", "vocab.json", "tokenizer.json"):
        assert (tmp_path / "copy" / name).is_file()
    # weights only: a plain state dict that torch loads with weights_only=True
    state = torch.load(tmp_path / "copy" / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_half_storage_loads_close(tiny_lm_dir, tmp_path):
    lm = LanguageModel.load(tiny_lm_dir)
    lm.save(tmp_path / "half", half=True)
    again = LanguageModel.load(tmp_path / "half")
    assert torch.allclose(_logits(lm), _logits(again), atol=1e-2)


def test_folder_from_another_format_version_is_refused(tiny_lm_dir, tmp_path):
    lm = LanguageModel.load(tiny_lm_dir)
    folder = lm.save(tmp_path / "old")
    config = json.loads((folder / "config.json").read_text())
    config["format_version"] = 999
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFolderError, match="format_version 999"):
        LanguageModel.load(folder)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelFolderError, match="does not exist"):
        LanguageModel.load(tmp_path / "nope")


def test_fine_tune_extends_vocab_and_keeps_shared_rows(tiny_lm_dir):
    lm = LanguageModel.load(tiny_lm_dir)
    old_itos = list(lm.vocab.itos)
    texts = ["zyzzyva quokka " * 3 + t for t in tiny_corpus()[:60]]
    metrics = lm.fine_tune(texts, epochs=1, frozen_epochs=1, bs=4, bptt=16, progress=False)
    assert "zyzzyva" in lm.vocab.itos and "quokka" in lm.vocab.itos
    assert lm.vocab.itos[: len([t for t in old_itos if t != "xxfake"])] == [t for t in old_itos if t != "xxfake"]
    assert math.isfinite(metrics["perplexity"]) and 0 <= metrics["accuracy"] <= 1
    assert lm.meta["history"][-1]["stage"] == "fine_tune"
    assert lm.meta["history"][-1]["threads"] == torch.get_num_threads()


def test_fine_tune_min_freq_by_corpus_size(tiny_lm_dir):
    from ulmfit.language_model import auto_min_freq

    assert LMFineTuneConfig().min_freq is None
    assert auto_min_freq(1999) == 1 and auto_min_freq(2000) == 3
    # "zyzzyva" occurs twice in the corpus and "quokka" once
    texts = tiny_corpus()[:60]
    texts = ["zyzzyva " + texts[0], "zyzzyva quokka " + texts[1], *texts[2:]]
    seen = {}
    for min_freq in (None, 3):
        lm = LanguageModel.load(tiny_lm_dir)
        lm.fine_tune(texts, min_freq=min_freq, valid_pct=0, epochs=1, frozen_epochs=0, bs=4, bptt=16,
                     progress=False)
        seen[min_freq] = ("zyzzyva" in lm.vocab.itos, "quokka" in lm.vocab.itos, lm.meta["history"][-1]["min_freq"])
    assert seen == {None: (True, True, 1), 3: (False, False, 3)}   # 60 texts: every token gets a row


def test_vocab_matching_gives_new_tokens_the_mean_row(tiny_lm_dir):
    lm = LanguageModel.load(tiny_lm_dir)
    state = lm.model.state_dict()
    emb_key = next(k for k, v in state.items() if v.dim() == 2 and v.shape[0] == len(lm.vocab))
    mean_row = state[emb_key][: len(lm.vocab)].mean(0)
    texts = ["glorptastic " * 5] * 20
    config = LMFineTuneConfig(vocab="extend", min_freq=3)
    lm._use_vocab(lm._matched_vocab(lm.tokenizer.tokenize(texts, n_workers=1), config.vocab, config.min_freq,
                                    config.max_vocab))
    new_state = lm.model.state_dict()
    row = new_state[emb_key][lm.vocab.itos.index("glorptastic")]
    assert torch.allclose(row, mean_row, atol=1e-6)


def test_perplexity_accuracy_and_generate(tiny_lm_dir):
    lm = LanguageModel.load(tiny_lm_dir)
    result = lm.evaluate(tiny_corpus()[:20])
    assert result["perplexity"] == pytest.approx(math.exp(result["loss"]))
    # an untrained model is close to uniform over the vocabulary
    assert result["perplexity"] < 3 * len(lm.vocab)
    text = lm.generate("The hotel", n_words=8, seed=0)
    assert isinstance(text, str) and text.lower().startswith("the hotel")
    assert lm.generate("The hotel", n_words=8, seed=0) == text
    with pytest.raises(ValueError, match="temperature"):
        lm.generate("x", temperature=0)
    for bad in ({"n_words": -1}, {"n_words": 2.5}, {"temperature": float("inf")}):
        name, value = next(iter(bad.items()))
        with pytest.raises(ValueError, match=rf"^generate: {name} must be .*, got {value!r}$"):
            lm.generate("x", **bad)
    assert lm.generate("The hotel", n_words=0).lower() == "the hotel"
    with pytest.raises(TypeError, match=r"^generate: prompt must be a str, got NoneType"):
        lm.generate(None)


def test_encode_reverses_for_backwards_models(tiny_lm_dir):
    lm = LanguageModel.load(tiny_lm_dir)
    fwd = lm.encode(["good value for money"])[0]
    lm.meta["backwards"] = True
    bwd = lm.encode(["good value for money"])[0]
    assert np.array_equal(fwd[::-1], bwd)


def test_detokenize_applies_case_markers():
    assert detokenize(["xxbos", "xxmaj", "great", "food", ",", "xxup", "ok", "service", "."]) == \
        "Great food, OK service."


def test_fastai_round_trip_keeps_a_backward_model_backward(tiny_lm_dir, tmp_path):
    lm = LanguageModel.load(tiny_lm_dir)
    lm.meta["backwards"] = True
    weights, vocab = lm.export_fastai(tmp_path / "fa")
    assert weights.name == "lm_bwd.pth"
    assert LanguageModel.from_fastai(weights, vocab).backwards
    assert not LanguageModel.from_fastai(weights, vocab, backwards=False).backwards


def test_fastai_export_import_round_trip(tiny_lm_dir, tmp_path):
    lm = LanguageModel.load(tiny_lm_dir)
    weights, vocab = lm.export_fastai(tmp_path / "fa")
    again = LanguageModel.from_fastai(weights, vocab, config=lm.config, tokenizer=lm.tokenizer)
    assert again.vocab.itos == lm.vocab.itos
    assert torch.allclose(_logits(lm), _logits(again), atol=1e-6)


def test_a_single_string_or_a_non_text_is_refused_by_keyword(tiny_lm_dir):
    lm = LanguageModel.load(tiny_lm_dir)
    with pytest.raises(TypeError, match=r"^valid must be a sequence of strings, got a single str; wrap it in a list$"):
        lm.fine_tune(tiny_corpus()[:20], valid="one text", progress=False)  # not three one-letter texts
    with pytest.raises(TypeError, match=r"^valid\[1\] must be a str, got NoneType"):
        lm.fine_tune(tiny_corpus()[:20], valid=["a text", None], progress=False)
    with pytest.raises(TypeError, match=r"^texts must be a sequence of strings, got a single str"):
        LanguageModel.pretrain("a corpus as one string", progress=False)
    with pytest.raises(FileNotFoundError, match=r"^resume: checkpoint file not found: .*nowhere.pt$"):
        LanguageModel.pretrain(tiny_corpus()[:20], resume="nowhere.pt", progress=False)  # before tokenizing


def test_save_and_export_name_bad_arguments(tiny_lm_dir, tmp_path):
    from ulmfit.hub.model_folder import ModelFolderError

    lm = LanguageModel.load(tiny_lm_dir)
    with pytest.raises(TypeError, match=r"^save: half must be True or False, got 'yes'$"):
        lm.save(tmp_path / "a", half="yes")  # not "truthy, so fp16"
    with pytest.raises(TypeError, match=r"^folder must be a model folder's path"):
        lm.export_fastai(None)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelFolderError, match=r"is a file; export_fastai writes two files into a folder$"):
        lm.export_fastai(tmp_path / "file")
    with pytest.raises(ModelFolderError, match=r"is a file, so nothing can be written below it$"):
        lm.export_fastai(tmp_path / "file" / "sub")
    weights, vocab = lm.export_fastai(tmp_path / "fastai")
    assert weights.name == "lm.pth" and vocab.name == "lm_vocab.pkl" and weights.is_file() and vocab.is_file()
