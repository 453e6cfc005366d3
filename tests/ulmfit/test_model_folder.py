"""Model-folder persistence: weights with NaN/inf are never written and never loaded."""

import pytest
import torch

from ulmfit.model_folder import ModelFolderError, load_state, save_state


def test_nonfinite_weights_are_refused_on_save_and_on_load(tmp_path):
    good = {"w": torch.ones(3), "steps": torch.tensor(4)}
    save_state(tmp_path, good)
    assert torch.equal(load_state(tmp_path)["w"], good["w"])
    with pytest.raises(ModelFolderError, match=r"refusing to write .*model\.pt.*1 tensor\(s\) hold NaN/inf \(w\)"):
        save_state(tmp_path / "x", {"w": torch.tensor([1.0, float("nan")])})
    with pytest.raises(ModelFolderError, match="too large for half=True"):
        save_state(tmp_path, {"w": torch.tensor([1e6])}, half=True)
    assert torch.equal(load_state(tmp_path)["w"], good["w"])  # the refused saves left the good file alone
    torch.save({"w": torch.tensor([float("inf")])}, tmp_path / "model.pt")  # written by something else
    with pytest.raises(ModelFolderError, match=r"model\.pt: 1 tensor\(s\) hold NaN/inf"):
        load_state(tmp_path)
