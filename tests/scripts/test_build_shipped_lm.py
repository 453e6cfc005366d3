"""scripts/build_shipped_lm.py's ``ship`` step: the card of a model trained in one run, and in two."""

import json

import pytest

from tests.scripts.conftest import script_fixture
from tests.ulmfit.conftest import tiny_corpus

build = script_fixture("build_shipped_lm")


TINY = ["--bs", "8", "--bptt", "16", "--valid-pct", "0.1", "--seed", "42", "--precision", "fp32", "--quiet",
        "--n-workers", "1"]  # the pretraining runs' batch, split and precision flags


def _corpus(folder):
    folder.mkdir()
    texts = [" ".join(tiny_corpus()[i:i + 4]) for i in range(0, 160, 4)]  # 40 documents
    for i, text in enumerate(texts):
        (folder / f"movie_reviews-{i:04d}.txt").write_text(text)
    words = sum(len(t.split()) for t in texts)
    stats = {"corpora": {"movie_reviews": {"documents": len(texts), "words": words}},
             "total": {"documents": len(texts), "words": words}}
    (folder / "corpus_stats.json").write_text(json.dumps(stats))
    return folder


def test_the_card_counts_every_run_of_a_continued_model(build, tmp_path):
    from ulmfit.cli import main
    from ulmfit.language_model import LanguageModel

    corpus = _corpus(tmp_path / "corpus")
    main(["pretrain", "--data", str(corpus), "--out", str(tmp_path / "first"), "--emb-sz", "16", "--n-hid", "24",
          "--n-layers", "2", "--min-freq", "2", "--epochs", "1", *TINY])
    out = tmp_path / "shipped"
    build.ship(tmp_path / "first", out, "fwd", corpus)
    card = (out / "MODEL_CARD.md").read_text()
    assert "| training | 1 epoch one-cycle, peak lr 0.005," in card
    assert card.count("build_shipped_lm.py --direction") == 1

    main(["pretrain", "--init", str(out), "--data", str(corpus), "--out", str(tmp_path / "more"), "--epochs", "2",
          "--lr", "1e-3", *TINY])
    build.ship(tmp_path / "more", out, "fwd", corpus)
    card = (out / "MODEL_CARD.md").read_text()
    assert ("| training | 1 + 2 epochs one-cycle (2 runs, each from the previous weights), peak lr 0.005 then 0.001,"
            in card)
    assert "--more-epochs 2   # ulmfit pretrain --init pretrained/en_fwd" in card
    shipped = LanguageModel.from_pretrained(out)
    assert len(shipped.meta["history"]) == 2 and shipped.meta["metrics"]["valid_perplexity"] > 1

    # a third run that grows the vocabulary: its rebuild line says so, in both scripts' flags
    size = len(shipped.vocab)
    main(["pretrain", "--init", str(out), "--data", str(corpus), "--out", str(tmp_path / "grown"), "--epochs", "1",
          "--init-vocab", "extend", "--max-vocab", str(size + 8), "--min-freq", "1", *TINY])
    build.ship(tmp_path / "grown", out, "fwd", corpus)
    card = (out / "MODEL_CARD.md").read_text()
    assert (f"--more-epochs 1 --extend-vocab {size + 8}   # ulmfit pretrain --init pretrained/en_fwd --data CORPUS "
            f"--epochs 1 ") in card and f"--init-vocab extend --max-vocab {size + 8} --min-freq 1" in card
    assert card.count("--extend-vocab") == 1 and len(LanguageModel.from_pretrained(out).vocab) == size + 8


def test_the_time_line_gives_each_run_its_threads(build):
    first = {"seconds": 6420.0}  # the fourth session's build: no thread count recorded
    assert build.training_time([first], "bwd") == "107.0 min (one torch thread, the bwd run beside it) of training"
    line = build.training_time([first, {"seconds": 2070.0, "threads": 2}], "bwd")
    assert line == ("107.0 min (one torch thread, the bwd run beside it) + 34.5 min (2 torch threads) = 141.5 "
                    "minutes of training")
    assert build.training_time([{"seconds": 60.0, "threads": 1}], "fwd") == "1.0 min (1 torch thread) of training"


def test_the_rates_are_said_once_when_every_run_shares_them(build):
    assert build.training_rates([5e-3]) == "peak lr 0.005"
    assert build.training_rates([5e-3, 5e-3, 5e-3]) == "peak lr 0.005 in each run"
    assert build.training_rates([5e-3, 1e-3]) == "peak lr 0.005 then 0.001"


def _step(**extra):
    """A movie-review step's meta.history entry, with the keys intermediate_task_lm.py writes."""
    return {"stage": "intermediate_task", "seconds": 1620.0, "threads": 1, "reviews": 1995, "last_tokens": 300,
            "lm_loss_weight": 1.0, "holdout_accuracy": 0.84, "config": {"epochs": 6, "seed": 0}, **extra}


def test_a_movie_review_step_and_its_repair_rebuild_as_one_script_command(build):
    run = {"stage": "pretrain", "epochs": 2, "config": {"lr": 5e-3}}
    more = {"stage": "pretrain", "epochs": 1, "threads": 1, "config": {"lr": 5e-3}}
    repair = {"stage": "pretrain", "epochs": 1, "threads": 1, "config": {"lr": 5e-4}}
    lines = build.rebuild_lines([run, more, _step(), repair], "bwd")
    assert len(lines) == 4 and "--backwards" in lines[0] and "--more-epochs 1" in lines[1]
    assert lines[2].startswith("OMP_NUM_THREADS=1 python scripts/intermediate_task_lm.py --direction bwd --out RUN "
                               "--epochs 6 --last-tokens 300 --lm-loss-weight 1 --seed 0 --repair-epochs 1 "
                               "--repair-lr 0.0005   # the step, then ulmfit pretrain --init STEP --data CORPUS "
                               "--epochs 1 --lr 0.0005 --bs 64")
    assert lines[3] == "python scripts/build_shipped_lm.py --direction bwd --from-run RUN"
    words = build.step_text([run, more, _step(), repair])
    assert words.startswith("; after run 2, a movie-review sentiment classifier was trained from it")
    assert "1,995 labelled reviews" in words and "hold-out accuracy 0.8400" in words
    assert build.step_text([run, more]) == ""
    assert build.training_time([_step()], "fwd") == "27.0 min (1 torch thread, the movie-review step) of training"


def test_the_card_of_a_repaired_step_and_a_fine_tuned_lm_refused(build, tmp_path):
    from ulmfit.cli import main
    from ulmfit.language_model import LanguageModel

    corpus = _corpus(tmp_path / "corpus")
    main(["pretrain", "--data", str(corpus), "--out", str(tmp_path / "first"), "--emb-sz", "16", "--n-hid", "24",
          "--n-layers", "2", "--min-freq", "2", "--epochs", "1", *TINY])
    lm = LanguageModel.from_pretrained(tmp_path / "first")
    lm.meta["history"].append(_step())  # what intermediate_task_lm.py saves as the step's LM
    lm.save(tmp_path / "step")
    main(["pretrain", "--init", str(tmp_path / "step"), "--data", str(corpus), "--out", str(tmp_path / "repaired"),
          "--epochs", "1", "--lr", "5e-4", *TINY])
    out = tmp_path / "shipped"
    build.ship(tmp_path / "repaired", out, "fwd", corpus)
    card = (out / "MODEL_CARD.md").read_text()
    assert ("| training | 1 + 1 epochs one-cycle (2 runs, each from the previous weights), peak lr 0.005 then "
            "0.0005,") in card
    assert "; after run 1, a movie-review sentiment classifier was trained from it" in card
    assert "min (1 torch thread, the movie-review step) + " in card
    assert "intermediate_task_lm.py --direction fwd --out RUN" in card and "--from-run RUN" in card

    lm.meta["history"][-1] = {"stage": "fine_tune"}   # a fine-tuned LM is not a pretrained model to ship
    lm.save(tmp_path / "tuned")
    with pytest.raises(SystemExit, match="'pretrain', 'fine_tune'"):
        build.ship(tmp_path / "tuned", tmp_path / "not_shipped", "fwd", corpus)
    assert not (tmp_path / "not_shipped").exists()
