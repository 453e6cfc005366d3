"""``LanguageModel.pretrain(init=...)`` / ``ulmfit pretrain --init``: more pretraining epochs for a model."""

import pytest
import torch

from tests.ulmfit.conftest import tiny_corpus
from ulmfit.cli import main
from ulmfit.language_model import LanguageModel, LMPretrainConfig
from ulmfit.text import Tokenizer

TINY = dict(epochs=1, bs=8, bptt=16, min_freq=2, valid_pct=0.1, precision="fp32")


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    from ulmfit.models import AWDLSTMConfig

    lm = LanguageModel.pretrain(tiny_corpus()[:80], tokenizer=Tokenizer(), arch=AWDLSTMConfig(emb_sz=16, n_hid=24,
                                n_layers=2), config=LMPretrainConfig(**TINY), progress=False, n_workers=1)
    folder = tmp_path_factory.mktemp("first") / "lm"
    lm.save(folder)
    return lm, folder


def _weights(lm):
    return {k: v.float() for k, v in lm.model.state_dict().items()}


def test_init_continues_the_model_with_its_vocabulary_sizes_and_history(first):
    lm, _ = first
    more = LanguageModel.pretrain(tiny_corpus()[80:160], config=LMPretrainConfig(**{**TINY, "lr": 1e-12}),
                                  progress=False, n_workers=1, init=lm)
    assert more.vocab.itos == lm.vocab.itos and more.config.n_hid == 24 and more.config.n_layers == 2
    before, after = _weights(lm), _weights(more)
    # with a vanishing learning rate the weights are init's, not a new random draw
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)
    history = more.meta["history"]
    assert [h["stage"] for h in history] == ["pretrain", "pretrain"] and history[-1]["init"] == "init="
    assert history[-1]["threads"] == torch.get_num_threads()
    assert lm.meta["history"][-1] == history[0] and len(lm.meta["history"]) == 1  # init itself is untouched


def test_init_from_a_folder_trains_and_improves_the_fit(first):
    lm, folder = first
    texts = tiny_corpus()[:80]
    more = LanguageModel.pretrain(texts, config=LMPretrainConfig(**{**TINY, "epochs": 2}), progress=False,
                                  n_workers=1, init=folder)
    assert more.meta["history"][-1]["init"] == str(folder)
    assert more.evaluate(texts[:20])["loss"] < lm.evaluate(texts[:20])["loss"]


def test_init_refuses_a_tokenizer_an_architecture_or_the_other_direction(first):
    lm, _ = first
    from ulmfit.models import AWDLSTMConfig

    for kwargs in ({"tokenizer": Tokenizer()}, {"arch": AWDLSTMConfig()}):
        with pytest.raises(ValueError, match="leave tokenizer= and arch= out"):
            LanguageModel.pretrain(tiny_corpus()[:20], config=LMPretrainConfig(**TINY), init=lm, **kwargs)
    with pytest.raises(ValueError, match="forward model but config.backwards=True"):
        LanguageModel.pretrain(tiny_corpus()[:20], config=LMPretrainConfig(**TINY, backwards=True), init=lm)


def test_cli_init_keeps_the_model_and_refuses_size_flags(first, tmp_path, capsys):
    _, folder = first
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(tiny_corpus()[:60]))
    with pytest.raises(SystemExit) as info:
        main(["pretrain", "--init", str(folder), "--data", str(corpus), "--out", str(tmp_path / "x"),
              "--n-hid", "32", "--min-freq", "1", "--quiet"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "leave out --n-hid, --min-freq" in err
    with pytest.raises(SystemExit):
        main(["pretrain", "--init", str(folder), "--data", str(corpus), "--out", str(tmp_path / "x"),
              "--backwards", "--quiet"])
    assert "is a forward model: leave out --backwards" in capsys.readouterr().err
    out = tmp_path / "more"
    main(["pretrain", "--init", str(folder), "--data", str(corpus), "--out", str(out), "--epochs", "1", "--bs", "8",
          "--bptt", "16", "--precision", "fp32", "--quiet", "--n-workers", "1"])
    more = LanguageModel.from_pretrained(out)
    assert more.vocab.itos == LanguageModel.from_pretrained(folder).vocab.itos
    assert [h["stage"] for h in more.meta["history"]] == ["pretrain", "pretrain"]


def test_init_vocab_extend_adds_the_new_frequent_tokens_with_mean_rows(first):
    lm, _ = first
    texts = tiny_corpus()[80:160] + ["zorblat quixel"] * 5 + ["snarfle"]  # two new words 5 times, one once
    config = LMPretrainConfig(**{**TINY, "lr": 1e-12, "valid_pct": 0.0, "init_vocab": "extend", "min_freq": 3,
                                 "max_vocab": len(lm.vocab) + 100})
    more = LanguageModel.pretrain(texts, config=config, progress=False, n_workers=1, init=lm)
    old = [t for t in lm.vocab.itos if t != "xxfake"]
    assert more.vocab.itos[: len(old)] == old  # init's tokens keep their ids
    added = more.vocab.itos[len(old):]
    assert {"zorblat", "quixel"} <= set(added) and "snarfle" not in added
    emb, old_emb = _weights(more)["encoder.embedding.weight"], _weights(lm)["encoder.embedding.weight"]
    assert torch.allclose(emb[: len(old)], old_emb[: len(old)], atol=1e-6)
    new_row = emb[more.vocab.itos.index("zorblat")]
    assert torch.allclose(new_row, old_emb.mean(0), atol=1e-6)  # the mean of all init's rows (the lr is ~0)
    # max_vocab caps the growth; keep (the default) leaves the vocabulary alone
    capped = LanguageModel.pretrain(texts, config=LMPretrainConfig(**{**config.__dict__, "max_vocab": len(old) + 1}),
                                    progress=False, n_workers=1, init=lm)
    assert len([t for t in capped.vocab.itos if t != "xxfake"]) == len(old) + 1


def test_init_vocab_extend_needs_init_and_texts(first, tmp_path, capsys):
    lm, folder = first
    with pytest.raises(ValueError, match="init_vocab='extend' extends the vocabulary of init="):
        LanguageModel.pretrain(tiny_corpus()[:20], tokenizer=Tokenizer(), config=LMPretrainConfig(init_vocab="extend"))
    with pytest.raises(ValueError, match="init_vocab='extend' needs texts"):
        LanguageModel.pretrain_ids([], config=LMPretrainConfig(init_vocab="extend"), init=lm)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(tiny_corpus()[:60]))
    with pytest.raises(SystemExit):
        main(["pretrain", "--init-vocab", "extend", "--data", str(corpus), "--out", str(tmp_path / "x"), "--quiet"])
    assert "--init-vocab extend extends the vocabulary of the model given by --init" in capsys.readouterr().err
    out = tmp_path / "grown"
    main(["pretrain", "--init", str(folder), "--init-vocab", "extend", "--min-freq", "1", "--max-vocab", "100000",
          "--data", str(corpus), "--out", str(out), "--epochs", "1", "--bs", "8", "--bptt", "16", "--precision", "fp32",
          "--quiet", "--n-workers", "1"])
    assert len(LanguageModel.from_pretrained(out).vocab) > len(lm.vocab)
