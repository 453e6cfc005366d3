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


class _Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.target}",))


def test_a_pickled_model_pt_runs_nothing_and_the_refusal_gives_no_unsafe_advice(tmp_path):
    from ulmfit.train import load_checkpoint

    target = tmp_path / "pwned"
    torch.save({"w": torch.ones(2), "x": _Payload(target)}, tmp_path / "model.pt")
    for load in (lambda: load_state(tmp_path), lambda: load_checkpoint(tmp_path / "model.pt")):
        with pytest.raises(ValueError) as info:
            load()
        msg = str(info.value)
        assert "refusing to load" in msg and "model.pt" in msg and "nothing was run" in msg
        assert "weights_only=False" not in msg and "\n" not in msg
    assert not target.exists()
    (tmp_path / "model.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelFolderError, match=r"cannot read .*model\.pt .*truncated, corrupt"):
        load_state(tmp_path)
