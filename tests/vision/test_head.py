import pytest
import torch
from torch import nn

from vision import TransferModel, create_head, xresnet18
from vision.head import AdaptiveConcatPool2d, cut_body, num_features, transfer_model


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_create_head_layout_as_fastai():
    head = create_head(512, 10)
    kinds = [type(m).__name__ for m in head]
    assert kinds == ["AdaptiveConcatPool2d", "Flatten", "BatchNorm1d", "Dropout", "Linear", "ReLU",
                     "BatchNorm1d", "Dropout", "Linear"]
    assert head[3].p == 0.25 and head[7].p == 0.5
    assert (head[4].in_features, head[4].out_features, head[4].bias) == (1024, 512, None)
    assert (head[8].in_features, head[8].out_features, head[8].bias) == (512, 10, None)
    assert (head[2].bias == 1e-3).all() and (head[2].weight == 1).all()


def test_xresnet18_transfer_param_count_matches_fastai():
    # fastai: xresnet18 body + create_head(n_out=10) has 11,728,224 parameters (a count recorded from fastai).
    model = transfer_model("xresnet18", 10)
    assert n_params(model) == 11_728_224


def test_concat_pool_is_max_then_avg():
    x = torch.randn(2, 3, 5, 5)
    out = AdaptiveConcatPool2d()(x)
    torch.testing.assert_close(out[:, :3, 0, 0], x.amax(dim=(2, 3)))
    torch.testing.assert_close(out[:, 3:, 0, 0], x.mean(dim=(2, 3)))


def test_head_options():
    head = create_head(16, 4, lin_ftrs=(32, 8), ps=(0.1, 0.2, 0.0), concat_pool=False, first_bn=False,
                       bn_final=True)
    kinds = [type(m).__name__ for m in head]
    assert kinds == ["AdaptiveAvgPool2d", "Flatten", "Dropout", "Linear", "ReLU", "BatchNorm1d", "Dropout",
                     "Linear", "ReLU", "BatchNorm1d", "Linear", "BatchNorm1d"]
    assert head[3].bias is not None  # no BN before the first linear: it keeps its bias
    head.eval()
    assert head(torch.randn(3, 16, 2, 2)).shape == (3, 4)
    with pytest.raises(ValueError, match="ps"):
        create_head(16, 4, ps=(0.1,))


def test_layer_groups_split_as_fastai():
    small = dict(widths=(8, 8, 16, 16), stem_szs=(8, 8, 8))
    model = transfer_model(xresnet18(**small), 3)
    groups = model.layer_groups()
    assert len(groups) == 3
    assert [type(m).__name__ for m in groups[0]] == ["ConvBN"] * 3
    assert len(groups[1]) == 5  # max pool + 4 stages
    assert groups[2] is model.head
    ids = [{id(p) for p in g.parameters()} for g in groups]
    assert sum(len(s) for s in ids) == len(list(model.parameters()))  # disjoint, complete
    model.eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3)


def test_torchvision_resnet_body():
    import torchvision

    tv = torchvision.models.resnet18(weights=None)
    body, split = cut_body(tv)
    assert split == 6 and len(body) == 8 and num_features(body) == 512
    model = transfer_model("resnet18", 5)
    assert isinstance(model, TransferModel) and model.split_at == 6
    assert len(model.layer_groups()) == 3


def test_custom_body_and_errors():
    body = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
    model = transfer_model(body, 2, lin_ftrs=None)
    assert model.split_at is None and len(model.layer_groups()) == 2
    model.eval()
    assert model(torch.randn(2, 1, 10, 10)).shape == (2, 2)
    with pytest.raises(ValueError, match="unknown architecture"):
        transfer_model("vgg", 2)
    with pytest.raises(ValueError, match="pretrained weights"):
        transfer_model("xresnet18", 2, weights="IMAGENET1K_V1")
    with pytest.raises(ValueError, match="split_at"):
        TransferModel(nn.Sequential(nn.ReLU()), nn.ReLU(), split_at=5)


def test_split_at_passes_a_saved_split_point():
    small = dict(widths=(8, 8, 16, 16), stem_szs=(8, 8, 8))
    saved = transfer_model(xresnet18(**small), 3)
    again = transfer_model(saved.body, 5, split_at=saved.split_at)  # a cut body alone has no known split
    assert again.split_at == 3 and again.body is saved.body
    assert [len(g) for g in again.layer_groups()[:2]] == [3, 5]
    assert transfer_model(saved.body, 5).split_at is None
    assert transfer_model(xresnet18(**small), 5, split_at=4).split_at == 4  # overrides fastai's 3
    with pytest.raises(ValueError, match="split_at"):
        transfer_model(saved.body, 5, split_at=99)


def test_checkpoint_keyword_points_to_build_model():
    with pytest.raises(TypeError, match=r"build_model\(arch, n_out, checkpoint=DIR\)"):
        transfer_model("xresnet18", 2, checkpoint="some/dir")
