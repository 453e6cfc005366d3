"""scripts/build_shipped_lm.py's ``ship`` step: the card of a model trained in one run, and in two."""

import json

from tests.scripts.conftest import script_fixture
from tests.ulmfit.conftest import tiny_corpus

build = script_fixture("build_shipped_lm")


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
    tiny = ["--bs", "8", "--bptt", "16", "--valid-pct", "0.1", "--seed", "42", "--precision", "fp32", "--quiet",
            "--n-workers", "1"]
    main(["pretrain", "--data", str(corpus), "--out", str(tmp_path / "first"), "--emb-sz", "16", "--n-hid", "24",
          "--n-layers", "2", "--min-freq", "2", "--epochs", "1", *tiny])
    out = tmp_path / "shipped"
    build.ship(tmp_path / "first", out, "fwd", corpus)
    card = (out / "MODEL_CARD.md").read_text()
    assert "| training | 1 epoch one-cycle, peak lr 0.005," in card
    assert card.count("build_shipped_lm.py --direction") == 1

    main(["pretrain", "--init", str(out), "--data", str(corpus), "--out", str(tmp_path / "more"), "--epochs", "2",
          "--lr", "1e-3", *tiny])
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
          "--init-vocab", "extend", "--max-vocab", str(size + 8), "--min-freq", "1", *tiny])
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
