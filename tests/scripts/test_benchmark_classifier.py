"""The pure parts of scripts/benchmark_classifier.py: the summary table, the hold-out halves, the baseline."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pytest

from tests.scripts.conftest import load_script, script_fixture

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "benchmark_classifier.py"


bench = script_fixture("benchmark_classifier", scope="module")


def _record(seed, acc, tfidf, *, task="trec6", finetune=True, limit_train=None, seconds=120.0):
    return {"task": task, "seed": seed, "lm": "ulmfit-en-small-fwd", "lm_finetune": finetune,
            "limit_train": limit_train, "limit_test": None, "test_accuracy": acc, "tfidf_test_accuracy": tfidf,
            "valid_b_accuracy": 0.80, "best_valid_b_accuracy": 0.82, "best_test_accuracy": acc + 0.01,
            "total_seconds": seconds}


def _row(table: str, marker: str) -> list[str]:
    lines = [line for line in table.splitlines() if line.startswith("|") and marker in line]
    assert len(lines) == 1, table
    return [cell.strip() for cell in lines[0].strip("|").split("|")]


def test_summarize_mean_and_sample_sd(bench):
    accs, tfidf = [0.86, 0.88, 0.90], [0.84, 0.85, 0.89]
    records = [_record(s, a, t) for s, a, t in zip((42, 43, 44), accs, tfidf)]
    records.append(_record(1, 0.70, 0.75, finetune=False, seconds=60.0))
    records.append(_record(1, 0.91, 0.80, task="mr"))
    table = bench.summarize(records)

    assert "### trec6" in table and "### mr" in table
    row = _row(table, "(42, 43, 44)")
    header = [cell.strip() for cell in table.splitlines()[2].strip("|").split("|")]
    cell = dict(zip(header, row))
    assert cell["LM fine-tune"] == "yes"
    assert cell["n seeds"].startswith("3")
    sd = statistics.stdev([100 * a for a in accs])          # sample sd, ddof=1
    assert sd == pytest.approx(np.std([100 * a for a in accs], ddof=1))
    assert cell["ULMFiT test acc %"] == f"{88.0:.2f} ± {sd:.2f}" == "88.00 ± 2.00"
    tfidf_sd = np.std([100 * t for t in tfidf], ddof=1)
    assert cell["TF-IDF+LR test acc %"] == f"{np.mean(tfidf) * 100:.2f} ± {tfidf_sd:.2f}"
    assert cell["valid-B final %"] == "80.00" and cell["valid-B best %"] == "82.00"
    assert cell["best-weights test % (informational)"].startswith("89.00 ± 2.00")
    assert cell["min / run"] == "2.0"

    ablation = dict(zip(header, _row(table, "| no |")))   # the no-fine-tune run is its own row
    assert ablation["n seeds"].startswith("1") and ablation["ULMFiT test acc %"] == "70.00 ± n/a"


def test_summarize_ensemble_columns(bench):
    old = [dict(_record(s, 0.8, 0.7, task="mr"), bwd_test_accuracy=0.79, ensemble_test_accuracy=0.82) for s in (1, 2)]
    new = [dict(_record(s, 0.6, 0.7, task="demo"), bwd_test_accuracy=0.6, ensemble_test_accuracy=0.66 + s / 100,
                ensemble_members=6, pair_test_accuracy=0.62) for s in (1, 2)]
    table = bench.summarize(old + new)
    header = [cell.strip() for cell in table.splitlines()[2].strip("|").split("|")]
    before, after = dict(zip(header, _row(table, "(2 members)"))), dict(zip(header, _row(table, "(6 members)")))
    # records without a member count were one forward + one backward classifier: both columns say so
    assert before["ensemble %"] == "82.00 ± 0.00 (2 members)" and before["1 fwd + 1 bwd %"] == "82.00 ± 0.00"
    assert after["ensemble %"] == "67.50 ± 0.71 (6 members)" and after["1 fwd + 1 bwd %"] == "62.00 ± 0.00"


def test_summarize_keeps_smoke_runs_apart(bench):
    table = bench.summarize([_record(1, 0.5, 0.5, limit_train=300), _record(2, 0.9, 0.9)])
    assert len([line for line in table.splitlines() if line.startswith("| ulmfit")]) == 2
    assert "300/None" in table and "| full |" in table


def test_summarize_reads_what_main_writes(bench, tmp_path, capsys):
    path = tmp_path / "bench.jsonl"
    path.write_text("\n".join(json.dumps(_record(s, 0.8, 0.7)) for s in (1, 2)) + "\n\n")
    bench.main(["--summarize", str(path)])
    assert "80.00 ± 0.00" in capsys.readouterr().out


def test_a_backward_lm_without_ensemble_is_refused(bench, capsys):
    with pytest.raises(SystemExit):
        bench.main(["mr-1000", "--bwd-lm", "some/folder"])
    assert "--bwd-lm is the backward half of --ensemble: add --ensemble" in capsys.readouterr().err


def test_split_valid_halves(bench):
    valid_idx = np.random.default_rng(0).permutation(1000)[:101]
    a, b = bench.split_valid_halves(valid_idx, seed=42)
    assert len(a) == 51 and len(b) == 50
    assert not set(a.tolist()) & set(b.tolist())
    assert sorted(a.tolist() + b.tolist()) == sorted(valid_idx.tolist())
    a2, b2 = bench.split_valid_halves(valid_idx, seed=42)
    assert np.array_equal(a, a2) and np.array_equal(b, b2)
    a3, _ = bench.split_valid_halves(valid_idx, seed=43)
    assert not np.array_equal(a, a3)


def test_tfidf_baseline_beats_chance(bench):
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(0)
    pos = ["great", "wonderful", "superb", "lovely", "excellent"]
    neg = ["awful", "terrible", "dreadful", "boring", "horrible"]
    filler = ["the", "film", "was", "plot", "acting", "and", "really", "quite"]

    def make(n):
        texts, labels = [], []
        for _ in range(n):
            label = str(rng.integers(2))
            words = list(rng.choice(filler, 4)) + list(rng.choice(pos if label == "1" else neg, 2))
            rng.shuffle(words)
            texts.append(" ".join(words))
            labels.append(label)
        return texts, labels

    result = bench.tfidf_baseline(make(80), make(30), make(40), seed=0)
    assert result["tfidf_C"] in bench.TFIDF_CS
    assert result["tfidf_valid_accuracy"] == max(result["tfidf_valid_accuracy_by_C"].values())
    assert result["tfidf_test_accuracy"] > 0.8


def test_the_tuning_script_never_reads_a_test_split(monkeypatch, tmp_path):

    tune = load_script("tune_classifier_recipe")
    import benchmark_classifier

    seen = {}

    def fake_loader(nltk_dir):
        class Poison(tuple):
            def __getitem__(self, i):
                raise AssertionError("the test split was read")

        seen["called"] = True
        return (["a"] * 4, ["x"] * 4), Poison()

    monkeypatch.setitem(benchmark_classifier.LOADERS, "fake", "load_fake")
    monkeypatch.setattr(benchmark_classifier, "load_fake", fake_loader, raising=False)
    train = tune._train_split("fake", tmp_path)
    assert seen["called"] and train == (["a"] * 4, ["x"] * 4)
    records = [{"candidate": 0, "overrides": {}, "valid_b_accuracy": 0.5, "tfidf_valid_b_accuracy": 0.6,
                "seconds": 10.0}, {"candidate": 0, "overrides": {}, "valid_b_accuracy": 0.7,
                                   "tfidf_valid_b_accuracy": 0.6, "seconds": 20.0}]
    assert "| 0 | `{}` | 2 | 60.00 ± 14.14 | 60.00 ± 0.00 | 15 |" in tune.table(records)
    assert "Mean of all candidates" not in tune.table(records)   # no probabilities saved


def test_the_tuning_script_scores_the_mean_of_the_candidates_probabilities():
    tune = load_script("tune_classifier_recipe")

    def rec(seed, candidate, a_probs, b_probs):
        return {"seed": seed, "candidate": candidate, "overrides": {"seed_offset": candidate},
                "valid_b_accuracy": 0.5, "tfidf_valid_b_accuracy": 0.5, "seconds": 1.0, "classes": ["neg", "pos"],
                "valid_a_labels": ["pos", "neg"], "valid_b_labels": ["pos", "pos"],
                "valid_a_probs": a_probs, "valid_b_probs": b_probs}

    # seed 1: each candidate gets 2 of 4 right, their mean gets all 4; seed 2: the mean gets 1 of 4
    records = [rec(1, 0, [[0.4, 0.6], [0.6, 0.4]], [[0.6, 0.4], [0.6, 0.4]]),
               rec(1, 1, [[0.55, 0.45], [0.45, 0.55]], [[0.1, 0.9], [0.1, 0.9]]),
               rec(2, 0, [[0.6, 0.4], [0.4, 0.6]], [[0.4, 0.6], [0.6, 0.4]]),
               rec(2, 1, [[0.6, 0.4], [0.4, 0.6]], [[0.4, 0.6], [0.6, 0.4]])]
    assert tune.grid_ensemble(records) == {1: 1.0, 2: 0.25}
    assert "1: 100.00 %, 2: 25.00 %; mean 62.50 %" in tune.table(records)


def _nltk_with(shared_data, name: str):
    """The NLTK data folder, skipping the test when ``name`` is not in it."""
    nltk = shared_data / "nltk"
    if not (nltk / name).is_file():
        pytest.skip(f"{nltk / name} is not here")
    return nltk


def test_trec_loaders_on_the_real_data(bench, shared_data):
    nltk = _nltk_with(shared_data, "qc.zip")
    (coarse, coarse_labels), coarse_test = bench.load_trec6(nltk)
    (fine, fine_labels), fine_test = bench.load_trec50(nltk)
    assert (len(fine), len(fine_test[0])) == (5452, 500) and fine == coarse  # the same questions, the same split
    assert len(set(coarse_labels)) == 6 and len(set(fine_labels)) == 50
    assert all(f.split(":")[0] == c for f, c in zip(fine_labels, coarse_labels))
    assert set(fine_test[1]) <= set(fine_labels)
    (few, few_labels), few_test = bench.load_trec6_1000(nltk)
    assert few == coarse[:1000] and few_labels == coarse_labels[:1000] and few_test == coarse_test
    assert set(few_labels) == set(coarse_labels)  # every class has training questions


def test_mr_1000_unsup_reads_only_training_sentences(bench, shared_data):
    nltk = _nltk_with(shared_data, "sentence_polarity.zip")
    (labelled, labels), test = bench.load_mr_1000(nltk)
    (every, _), same_test = bench.load_mr(nltk)
    unlabelled = bench.load_mr_rest_unlabelled(nltk)
    assert (len(labelled), len(unlabelled)) == (1000, len(every) - 1000) and same_test == test
    assert labelled + unlabelled == every  # the rest of the training split, in order: no test sentence
    assert bench.LOADERS["mr-1000-unsup"] == "load_mr_1000" and "mr-1000" not in bench.UNLABELLED_LOADERS


def test_run_seed_fine_tunes_the_lm_on_the_unlabelled_texts_too(bench, monkeypatch):
    import types

    import ulmfit

    seen = {}

    class StopHere(Exception):
        pass

    class FakeLM:
        meta = {"metrics": {"valid_perplexity": 71.2}}

        @classmethod
        def from_pretrained(cls, name):
            return cls()

        def fine_tune(self, texts, **kwargs):
            seen["texts"] = list(texts)
            raise StopHere

    monkeypatch.setattr(ulmfit, "LanguageModel", FakeLM)
    args = types.SimpleNamespace(quiet=True, lm="x", no_lm_finetune=False, ensemble=False, limit_train=None,
                                 limit_test=None)
    data = ((["a", "b", "c", "d"], ["p", "n", "p", "n"]), (["t"], ["p"]))
    with pytest.raises(StopHere):
        bench.run_seed("mr-1000-unsup", 0, data, args, unlabelled=["u1", "u2"])
    assert seen["texts"] == ["a", "b", "c", "d", "u1", "u2"]


def test_accuracies_scores_test_and_both_holdout_halves(bench):
    class Fixed:
        def evaluate(self, texts, labels):
            return {"accuracy": sum(t == y for t, y in zip(texts, labels)) / len(texts)}

    got = bench.accuracies("bwd_", Fixed(), (["a", "b"], ["a", "x"]), (["c"], ["c"]), ([], []))
    assert got == {"bwd_test_accuracy": 0.5, "bwd_valid_a_accuracy": 1.0, "bwd_valid_b_accuracy": None}


def test_the_tuning_script_fine_tunes_the_lm_with_the_seed_plus_its_offset(monkeypatch, tmp_path):
    import types

    import ulmfit

    tune = load_script("tune_classifier_recipe")
    import benchmark_classifier

    seen = {}

    class StopHere(Exception):
        pass

    class FakeLM:
        @classmethod
        def from_pretrained(cls, name):
            return cls()

        def fine_tune(self, texts, **kwargs):
            seen.update(kwargs, n_texts=len(texts))
            raise StopHere

    monkeypatch.setattr(ulmfit, "LanguageModel", FakeLM)
    monkeypatch.setitem(benchmark_classifier.LOADERS, "fake", "load_fake")
    monkeypatch.setattr(benchmark_classifier, "load_fake", lambda nltk_dir: ((["a", "b"] * 10, ["p", "n"] * 10), None),
                        raising=False)
    args = types.SimpleNamespace(nltk=tmp_path, valid_pct=0.3, lm="x", no_lm_finetune=False, quiet=True,
                                 lm_overrides={}, lm_seed_offset=5, lm_train_only=False)
    with pytest.raises(StopHere):
        tune.run("fake", [42], [{}], args)
    assert seen["seed"] == 47 and seen["n_texts"] == 20    # the whole training split, hold-out texts included
    args.lm_train_only = True
    with pytest.raises(StopHere):
        tune.run("fake", [42], [{}], args)
    assert seen["n_texts"] == 14                            # the training part only: 70 % of 20


def test_tune_fine_tunes_the_lm_on_the_training_part_by_default(monkeypatch):
    tune = load_script("tune_classifier_recipe")
    seen = []
    monkeypatch.setattr(tune, "run", lambda task, seeds, grid, args: seen.append(args.lm_train_only) or [])
    monkeypatch.setattr(tune, "table", lambda records: "")
    tune.main(["demo", "--quiet"])
    tune.main(["demo", "--quiet", "--no-lm-train-only"])
    assert seen == [True, False]   # hold-out texts stay out of the LM unless asked for
