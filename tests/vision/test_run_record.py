from vision.run_record import readable_evaluation, run_summary, write_run_record

EVALUATION = {"accuracy": 0.5, "macro_f1": 0.4, "n": 4, "classes": ["n01440764", "x"],
              "per_class": {"n01440764": {"precision": 1.0, "recall": 0.5, "f1": 0.667, "support": 2},
                            "x": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}},
              "confusion_matrix": [[1, 1], [1, 1]]}


def test_readable_evaluation_and_summary():
    ev = readable_evaluation(EVALUATION, {"n01440764": "tench"})
    assert ev["classes"] == ["tench", "x"] and list(ev["per_class"]) == ["tench", "x"]
    assert ev["confusion_matrix"] == EVALUATION["confusion_matrix"]
    assert readable_evaluation(EVALUATION, {"n01440764": "x"}) == EVALUATION  # a clash keeps the ids
    assert run_summary(EVALUATION, 125.4) == {"validation accuracy": 0.5, "validation macro F1": 0.4,
                                              "training time": "2:05"}


def test_write_run_record(tmp_path):
    log = {"epochs": [{"stage": "train", "stage_index": 0, "epoch": 1, "step": 2, "lr": 1e-3, "train_loss": 1.0}],
           "steps": [{"stage": "train", "stage_index": 0, "step": s, "lr": 1e-3, "loss": 1.0} for s in (1, 2)]}
    names = write_run_record(tmp_path / "f", log, title="t", config={"lr": 1e-3}, data={"classes": 2},
                             evaluation=EVALUATION, summary=run_summary(EVALUATION, 3))
    assert names == ["metrics.csv", "steps.csv", "report.html"]
    assert (tmp_path / "f" / "metrics.csv").read_text().startswith("stage,stage_index,epoch,step,lr,train_loss\n")
    assert 'id="confusion"' in (tmp_path / "f" / "report.html").read_text(encoding="utf-8")
