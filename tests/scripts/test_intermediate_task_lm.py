"""scripts/intermediate_task_lm.py: the movie-review reader and its MR-overlap filter, on tiny zips."""

from __future__ import annotations

import zipfile

import pytest

from tests.scripts.conftest import script_fixture

itl = script_fixture("intermediate_task_lm", scope="module")

MR_POS = "the film is a charming , witty and often very moving portrait of a family in crisis .\n"
MR_SHORT = "too short to count .\n"
MR_NEG = "a dull , lifeless and overlong mess that never finds its footing at all .\n"


def write_zips(tmp_path):
    with zipfile.ZipFile(tmp_path / "sentence_polarity.zip", "w") as zf:
        zf.writestr("sentence_polarity/rt-polarity.pos", MR_POS + MR_SHORT)
        zf.writestr("sentence_polarity/rt-polarity.neg", MR_NEG)
        zf.writestr("sentence_polarity/README.txt", "the film is a charming , witty and often very moving portrait")
    reviews = {
        "movie_reviews/pos/cv000.txt": "one two three four five\nsix seven eight nine ten\n",
        # holds MR_POS's middle 40 characters (spread over two lines and upper-cased): dropped
        "movie_reviews/pos/cv001.txt": ("Critics said THE FILM is a charming , witty and often\n"
                                        "very moving portrait of a family in crisis ."),
        "movie_reviews/neg/cv002.txt": "too short to count . a bad film .",   # MR_SHORT is under 40 characters: kept
        "movie_reviews/README": "not a review",
    }
    with zipfile.ZipFile(tmp_path / "movie_reviews.zip", "w") as zf:
        for name, text in reviews.items():
            zf.writestr(name, text.encode("latin-1"))
    return tmp_path / "sentence_polarity.zip", tmp_path / "movie_reviews.zip"


def test_mr_chunks_are_the_middle_of_long_sentences_only(itl, tmp_path):
    polarity, _ = write_zips(tmp_path)
    chunks = itl.mr_chunks(polarity)
    assert len(chunks) == 2 and all(len(c) == itl.CHUNK for c in chunks)
    mid = len(MR_POS.strip()) // 2
    assert MR_POS.strip()[mid - 20: mid + 20] in chunks   # README text is not read as a sentence


def test_reviews_overlapping_mr_are_dropped_the_rest_cut_to_their_last_tokens(itl, tmp_path):
    polarity, reviews = write_zips(tmp_path)
    texts, labels, dropped = itl.movie_reviews(reviews, itl.mr_chunks(polarity), last_tokens=4)
    assert dropped == 1
    assert labels == ["neg", "pos"]                      # sorted by member name; README is not a review
    assert texts == ["a bad film .", "seven eight nine ten"]


def test_an_existing_out_folder_is_refused(itl, tmp_path, capsys):
    with pytest.raises(SystemExit):
        itl.main(["--direction", "fwd", "--out", str(tmp_path)])
    assert "--out" in capsys.readouterr().err


def test_a_missing_corpus_is_named(itl, tmp_path, capsys):
    with pytest.raises(SystemExit):
        itl.main(["--direction", "bwd", "--out", str(tmp_path / "new"), "--nltk", str(tmp_path)])
    assert "movie_reviews.zip not found: pass --nltk DIR" in capsys.readouterr().err


def test_repair_flags_are_the_shipped_continuation_at_another_peak_lr(itl):
    from build_shipped_lm import CONTINUE

    flags = itl.repair_flags(2, 5e-4)
    assert flags[:2] == ["--epochs", "2"]
    assert flags[flags.index("--lr") + 1] == "0.0005"
    rest = flags[2:]
    at = rest.index("--lr")
    assert rest[:at] + rest[at + 2:] == [f for i, f in enumerate(CONTINUE) if i not in (CONTINUE.index("--lr"),
                                                                                       CONTINUE.index("--lr") + 1)]
    assert "--seed" in rest and "--valid-pct" in rest       # the shipped pair's split, so its held-out figures hold


def test_negative_repair_epochs_are_refused(itl, tmp_path, capsys):
    with pytest.raises(SystemExit):
        itl.main(["--direction", "fwd", "--out", str(tmp_path / "new"), "--repair-epochs", "-1"])
    assert "--repair-epochs -1" in capsys.readouterr().err


def test_a_non_positive_repair_lr_is_refused(itl, tmp_path, capsys):
    with pytest.raises(SystemExit):
        itl.main(["--direction", "fwd", "--out", str(tmp_path / "new"), "--repair-lr", "0"])
    assert "--repair-lr 0: give a positive learning rate" in capsys.readouterr().err


def test_the_step_is_recorded_and_the_repair_continues_it(itl, tmp_path, monkeypatch):
    """The whole flow on tiny zips, with the classifier's training and the repair run stubbed: the step's LM is
    saved to --work with an ``intermediate_task`` history entry, and the repair is `ulmfit pretrain --init` of it."""
    import copy
    import shutil
    import subprocess
    from types import SimpleNamespace

    import ulmfit
    from ulmfit import LanguageModel

    write_zips(tmp_path)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "corpus_stats.json").write_text("{}")    # a prepared corpus: nothing is written

    def fake_train(texts, labels, *, lm, **kwargs):
        assert labels == ["neg", "pos"] and kwargs["lm_loss_weight"] == 1.0
        return SimpleNamespace(model=SimpleNamespace(encoder=copy.deepcopy(lm.model.encoder)),
                               evaluation={"accuracy": 0.5},
                               meta={"history": [{"stage": "classifier", "stage_epochs": [1, 1, 1, 3]}]})

    commands = []

    def fake_run(command, check, cwd):
        commands.append(command)
        shutil.copytree(command[command.index("--init") + 1], command[command.index("--out") + 1])

    monkeypatch.setattr(ulmfit.TextClassifier, "train", staticmethod(fake_train))
    monkeypatch.setattr(subprocess, "run", fake_run)
    out, work = tmp_path / "lm", tmp_path / "work"
    itl.main(["--direction", "fwd", "--out", str(out), "--nltk", str(tmp_path), "--corpus", str(corpus),
              "--work", str(work)])

    (command,) = commands
    assert command[command.index("--init") + 1] == str(work / "fwd_step")
    assert command[command.index("--data") + 1] == str(corpus)
    assert command[command.index("--lr") + 1] == "0.0005" and command[command.index("--epochs") + 1] == "1"
    step = LanguageModel.from_pretrained(str(work / "fwd_step")).meta["history"][-1]
    assert step["stage"] == "intermediate_task" and step["reviews"] == 2 and step["dropped"] == 1
    assert step["stage_epochs"] == [1, 1, 1, 3]
