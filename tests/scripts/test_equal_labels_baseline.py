"""scripts/equal_labels_baseline.py: the same split as benchmark_classifier.py, the reviews added to the second fit."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from tests.scripts.conftest import script_fixture

elb = script_fixture("equal_labels_baseline", scope="module")

POS = ["great", "wonderful", "superb", "lovely", "excellent"]
NEG = ["awful", "terrible", "dreadful", "boring", "horrible"]
FILLER = ["the", "film", "was", "plot", "acting", "and", "really", "quite"]


def sentence(rng, words) -> str:
    return " ".join(list(rng.choice(FILLER, 4)) + list(rng.choice(words, 2)))


def write_nltk(tmp_path, n: int = 60):
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(tmp_path / "sentence_polarity.zip", "w") as zf:
        zf.writestr("sentence_polarity/rt-polarity.pos", "\n".join(sentence(rng, POS) for _ in range(n)) + "\n")
        zf.writestr("sentence_polarity/rt-polarity.neg", "\n".join(sentence(rng, NEG) for _ in range(n)) + "\n")
    with zipfile.ZipFile(tmp_path / "movie_reviews.zip", "w") as zf:
        for k in range(5):
            zf.writestr(f"movie_reviews/pos/cv{k:03d}.txt", f"review {k} . " + sentence(rng, POS))
            zf.writestr(f"movie_reviews/neg/cv{k:03d}.txt", f"review {k} . " + sentence(rng, NEG))
    return tmp_path


def test_the_split_is_benchmark_classifiers_and_only_the_second_fit_gets_the_reviews(elb, monkeypatch):
    import benchmark_classifier

    from ulmfit.classifier import ClassifierConfig
    from ulmfit.data.split import holdout_split

    fits = []

    def fake_baseline(train, valid, test, seed):
        fits.append((train, valid, test, seed))
        return {"tfidf_test_accuracy": 0.5 + 0.1 * len(fits), "tfidf_C": 1.0}

    monkeypatch.setattr(benchmark_classifier, "tfidf_baseline", fake_baseline)
    texts = [f"text {i}" for i in range(50)]
    labels = ["pos" if i % 2 else "neg" for i in range(50)]
    test = (["a test"], ["pos"])
    record = elb.run_seed(((texts, labels), test), (["r1", "r2"], ["pos", "neg"]), seed=7)
    train_idx, valid_idx = holdout_split(50, ClassifierConfig().valid_pct, 7)
    (train1, valid1, test1, seed1), (train2, valid2, test2, _) = fits
    assert train1 == ([texts[i] for i in train_idx], [labels[i] for i in train_idx])
    assert valid1 == valid2 == ([texts[i] for i in valid_idx], [labels[i] for i in valid_idx])
    assert test1 == test2 == test and seed1 == 7
    assert train2 == (train1[0] + ["r1", "r2"], train1[1] + ["pos", "neg"])
    assert record["tfidf_test_accuracy"] == pytest.approx(0.6)
    assert record["tfidf_plus_reviews_test_accuracy"] == pytest.approx(0.7)
    assert record["tfidf_plus_reviews_C"] == 1.0 and record["n_extra"] == 2


def test_main_on_tiny_zips_writes_a_line_per_seed_and_the_means(elb, tmp_path, capsys):
    pytest.importorskip("sklearn")
    nltk = write_nltk(tmp_path)
    out = tmp_path / "out.jsonl"
    elb.main(["mr", "--nltk", str(nltk), "--seeds", "1", "2", "--json-out", str(out)])
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["seed"] for r in records] == [1, 2]
    assert all(r["task"] == "mr" and r["n_extra"] == 10 and r["n_test"] == 12 for r in records)
    assert all(r["tfidf_test_accuracy"] > 0.8 for r in records)
    printed = capsys.readouterr().out
    assert "10 reviews added" in printed and "over 2 seed(s)" in printed and "with the 10 reviews added" in printed


@pytest.mark.parametrize("argv, flag", [(["mr", "--last-tokens", "0"], "--last-tokens"),
                                        (["mr-1000"], "movie_reviews.zip")])
def test_bad_arguments_are_one_line(elb, tmp_path, capsys, argv, flag):
    with pytest.raises(SystemExit):
        elb.main([*argv, "--nltk", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert flag in err and "Traceback" not in err
