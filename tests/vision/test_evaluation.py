import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from ulmfit.errors import UsageError
from vision.evaluation import check_classes, evaluate_model, predict_dataset


class _Fixed(nn.Module):
    """Logits are the first 3 channels' means: the test chooses each image's prediction."""

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.zeros(()))

    def forward(self, x):  # (B, 3, S, S) -> (B, 3)
        return x.mean(dim=(2, 3)) + self.p


def _dataset(preds, labels):
    x = torch.zeros(len(preds), 3, 4, 4)
    for i, k in enumerate(preds):
        x[i, k] = 5.0
    return TensorDataset(x, torch.tensor(labels))


def test_evaluate_model_counts_by_hand():
    preds, labels = [0, 0, 1, 2, 2, 1, 0], [0, 1, 1, 2, 0, 1, 2]
    m = evaluate_model(_Fixed(), _dataset(preds, labels), ["a", "b", "c"], bs=3, device="cpu")
    assert m["n"] == 7 and m["accuracy"] == pytest.approx(4 / 7)
    assert m["confusion_matrix"] == [[1, 0, 1], [1, 2, 0], [1, 0, 1]]
    assert m["per_class"]["a"] == pytest.approx({"precision": 1 / 3, "recall": 1 / 2, "f1": 0.4, "support": 2})
    assert m["classes"] == ["a", "b", "c"]


def test_evaluate_model_maps_labels_of_data_with_another_class_order():
    # the data's label 0 is "c", 1 "a", 2 "b"; the model's outputs are in a, b, c order
    m = evaluate_model(_Fixed(), _dataset([0, 1, 2], [1, 2, 0]), ["a", "b", "c"], data_classes=["c", "a", "b"])
    assert m["accuracy"] == 1.0 and m["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]


def test_predict_dataset_keeps_order_and_restores_nothing_hidden():
    probs, y = predict_dataset(_Fixed().train(), _dataset([2, 0, 1], [0, 1, 2]), bs=2)
    assert probs.shape == (3, 3) and probs.dtype == np.float32 and y.tolist() == [0, 1, 2]
    assert probs.argmax(1).tolist() == [2, 0, 1] and np.allclose(probs.sum(1), 1)
    with pytest.raises(ValueError, match="empty"):
        predict_dataset(_Fixed(), _dataset([], []))


def test_check_classes_names_both_sides():
    check_classes(["a", "b"], ["b", "a"], "m", "d")  # another order is fine
    with pytest.raises(UsageError) as err:
        check_classes(["a", "b", "c"], ["a", "b", "z"], "models/m", "imgs")
    msg = str(err.value)
    assert "models/m was trained on 3 classes [a, b, c]" in msg and "imgs has 3 classes [a, b, z]" in msg
    assert "not in the model: [z]" in msg and "not in the data: [c]" in msg
    with pytest.raises(UsageError, match=r"\[c0, c1, c2, c3, c4, c5, c6, c7, \.\.\.\]"):
        check_classes([f"c{i}" for i in range(20)], ["x"], "m", "d")
