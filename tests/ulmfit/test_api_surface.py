"""The API behaves like its neighbours (scikit-learn, Hugging Face): totals, sources, label types,
saved ensembles, provenance, one perplexity definition, and a record of the run in every model folder."""

import json

import pytest

from ulmfit.classifier import ClassifierEnsemble, TextClassifier, load_classifier, spread_epochs
from ulmfit.demo import load_demo_data
from ulmfit.language_model import LanguageModel

QUICK = dict(stage_epochs=(1, 0, 0, 1), bs=16, progress=False)


@pytest.fixture(scope="module")
def demo():
    (texts, labels), (vtexts, vlabels) = load_demo_data()
    return texts[:64], labels[:64], vtexts[:16], vlabels[:16]


def test_epochs_total_is_spread_over_the_stages(tiny_lm_dir, demo):
    assert spread_epochs(16, (2, 2, 2, 10)) == (2, 2, 2, 10)
    assert spread_epochs(5, (2, 2, 2, 10)) == (1, 1, 1, 2)
    assert spread_epochs(2, (4, 4, 4, 16)) == (1, 0, 0, 1)
    assert spread_epochs(1, (1, 1, 1, 2)) == (0, 0, 0, 1)
    texts, labels, _, _ = demo
    clf = TextClassifier.train(texts, labels, lm=str(tiny_lm_dir), epochs=2, bs=16, progress=False)
    assert clf.meta["history"][-1]["stage_epochs"] == [1, 0, 0, 1]
    assert [e["stage"] for e in clf.training_log["epochs"]] == ["head only", "all layers"]
    with pytest.raises(ValueError, match="not both"):
        TextClassifier.train(texts, labels, lm=str(tiny_lm_dir), epochs=2, stage_epochs=(1, 1), progress=False)
    with pytest.raises(ValueError, match="use epochs=N"):
        TextClassifier.train(texts, labels, lm=str(tiny_lm_dir), stage_epochs=1, progress=False)


def test_train_takes_a_data_source_and_int_labels_stay_ints(tiny_lm_dir, demo, tmp_path):
    texts, labels, _, _ = demo
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in zip(texts, labels)))
    from_source = TextClassifier.train(str(path), lm=str(tiny_lm_dir), **QUICK)
    assert from_source.classes == sorted(set(labels))
    ints = [int(lab == labels[0]) for lab in labels]
    clf = TextClassifier.train(texts, ints, lm=str(tiny_lm_dir), **QUICK)
    assert clf.classes == [0, 1] and all(type(p) is int for p in clf.predict(texts[:4]))
    assert clf.evaluate(texts[:8], ints[:8])["classes"] == [0, 1]
    clf.save(tmp_path / "ints")
    back = TextClassifier.load(tmp_path / "ints")
    assert back.classes == [0, 1] and back.predict(texts[:4]) == clf.predict(texts[:4])
    with pytest.raises(TypeError, match="labels are missing"):
        TextClassifier.train(texts, lm=str(tiny_lm_dir), **QUICK)


def test_ensemble_saves_and_loads(tiny_lm_dir, demo, tmp_path):
    texts, labels, _, _ = demo
    fwd = TextClassifier.train(texts, labels, lm=str(tiny_lm_dir), **QUICK)
    other = TextClassifier.train(texts, labels, lm=str(tiny_lm_dir), seed=7, **QUICK)
    vtexts, vlabels = demo[2], demo[3]
    ens = ClassifierEnsemble([fwd, other], valid=(vtexts, vlabels))
    assert ens.evaluation == ens.evaluate(vtexts, vlabels) and ens.evaluation["n"] == len(vtexts)
    ens.save(tmp_path / "ens")
    page = (tmp_path / "ens" / "report.html").read_text()
    assert 'href="member-0/report.html"' in page and 'href="member-1/report.html"' in page
    assert 'id="eval-figures"' in page and 'id="confusion"' in page  # the ensemble's own validation figures
    assert [e["n"] for e in ens.member_evaluations] == [len(vtexts)] * 2
    # members loaded from disk have no training log and so no report of their own: scored, not linked
    again = ClassifierEnsemble([TextClassifier.load(tmp_path / "ens" / "member-0"), other], valid=(vtexts, vlabels))
    again.save(tmp_path / "again")
    page = (tmp_path / "again" / "report.html").read_text()
    assert 'href="member-0/' not in page and 'href="member-1/report.html"' in page
    assert again.member_evaluations[0] == ens.member_evaluations[0]
    back = load_classifier(tmp_path / "ens")
    assert isinstance(back, ClassifierEnsemble) and len(back.models) == 2
    assert (back.predict_proba(texts[:5]) == ens.predict_proba(texts[:5])).all()
    assert isinstance(load_classifier(tmp_path / "ens" / "member-0"), TextClassifier)
    (tmp_path / "ens" / "report.html").write_text("<p>edited</p>")
    with pytest.raises(Exception, match="report.html"):  # the report is in the manifest too
        ClassifierEnsemble.load(tmp_path / "ens")
    ens.save(tmp_path / "ens")
    (tmp_path / "ens" / "member-1" / "labels.json").write_text('{"classes": ["x", "y"]}')
    with pytest.raises(Exception, match="member-1"):  # a tampered member is refused, naming it
        ClassifierEnsemble.load(tmp_path / "ens")


def test_fine_tune_records_its_parent_and_one_perplexity(tiny_lm_dir, demo, tmp_path):
    texts, _, vtexts, _ = demo
    lm = LanguageModel.from_pretrained(str(tiny_lm_dir))
    lm.meta.update({"name": "tiny-parent", "metrics": {"valid_perplexity": 123.0}})
    metrics = lm.fine_tune(texts, valid=vtexts, frozen_epochs=1, epochs=1, bs=8, progress=False)
    assert metrics["perplexity"] == pytest.approx(lm.perplexity(vtexts), rel=1e-6)
    assert lm.meta["parent"] == {"name": "tiny-parent", "metrics": {"valid_perplexity": 123.0}}
    assert lm.meta["name"] == "fine-tuned from tiny-parent"
    assert lm.meta["metrics"]["valid_perplexity"] == pytest.approx(metrics["perplexity"])
    assert [e["stage"] for e in lm.training_log["epochs"]] == ["embeddings + decoder", "all layers"]
    lm.save(tmp_path / "ft")
    for name in ("metrics.csv", "steps.csv", "report.html"):
        assert (tmp_path / "ft" / name).is_file(), name
    manifest = json.loads((tmp_path / "ft" / "manifest.json").read_text())
    assert {"metrics.csv", "steps.csv", "report.html"} <= set(manifest["files"])
    LanguageModel.from_pretrained(str(tmp_path / "ft"))  # the record is part of the checked folder


def test_classifier_folder_holds_metrics_and_a_report(tiny_lm_dir, demo, tmp_path):
    texts, labels, vtexts, vlabels = demo
    clf = TextClassifier.train(texts, labels, lm=str(tiny_lm_dir), valid=(vtexts, vlabels), **QUICK)
    clf.save(tmp_path / "clf")
    header = (tmp_path / "clf" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[:5] == ["stage", "stage_index", "epoch", "step", "lr"] and "accuracy" in header
    html = (tmp_path / "clf" / "report.html").read_text()
    assert "<svg" in html and "head only" in html and "<script" not in html
