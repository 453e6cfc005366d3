import urllib.error

import pytest
import torch

from ulmfit.errors import DownloadError
from vision.weights import fetch_weights, torchvision_model, weights_entry, weights_file


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torch cache, and no network: every download attempt raises URLError."""
    import torchvision

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    return tmp_path / "hub" / "checkpoints"


def test_weights_entry_names():
    entry = weights_entry("resnet18", "IMAGENET1K_V1")
    assert weights_entry("resnet18", "DEFAULT") is entry and weights_entry("resnet18", entry) is entry
    with pytest.raises(ValueError, match=r"weights='V2' is not a torchvision weights name for resnet18; "
                                         r"accepted: IMAGENET1K_V1, DEFAULT"):
        weights_entry("resnet18", "V2")
    with pytest.raises(ValueError, match="unknown torchvision architecture"):
        weights_entry("resnot18", "DEFAULT")


def test_offline_download_is_one_download_error(torch_home):
    entry = weights_entry("resnet18", "IMAGENET1K_V1")
    assert weights_file(entry) == torch_home / "resnet18-f37072fd.pth"
    with pytest.raises(DownloadError) as err:
        torchvision_model("resnet18", "IMAGENET1K_V1")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("weights='IMAGENET1K_V1' for resnet18: could not download "
                                              "https://download.pytorch.org/models/resnet18-f37072fd.pth")
    assert "no network in tests" in msg and f"place it at {torch_home / 'resnet18-f37072fd.pth'}" in msg


def test_a_file_placed_in_the_cache_is_used_without_network(torch_home):
    entry = weights_entry("resnet18", "IMAGENET1K_V1")
    torch.manual_seed(0)
    state = torchvision_model("resnet18").state_dict()
    torch_home.mkdir(parents=True)
    torch.save(state, weights_file(entry))
    assert fetch_weights(entry) == weights_file(entry)
    model = torchvision_model("resnet18", "IMAGENET1K_V1")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


def test_a_corrupt_cached_file_says_to_delete_it(torch_home):
    torch_home.mkdir(parents=True)
    (torch_home / "resnet18-f37072fd.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(DownloadError, match=r"the cached file .*resnet18-f37072fd\.pth cannot be used .*delete it"):
        torchvision_model("resnet18", "IMAGENET1K_V1")
