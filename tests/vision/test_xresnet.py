import pytest
import torch
from torch import nn

from vision import xresnet18, xresnet34, xresnet50, xresnet101, xresnet152
from vision.xresnet import ResBlock, XResNet

# Parameter counts of fastai 2.8.12's xresnet builders, measured with fastai itself.
FASTAI_COUNTS = {
    (xresnet18, 10): 11_200_874,
    (xresnet18, 1000): 11_708_744,
    (xresnet34, 10): 21_309_034,
    (xresnet34, 1000): 21_816_904,
    (xresnet50, 10): 23_547_754,
    (xresnet50, 1000): 25_576_264,
    (xresnet101, 10): 42_539_882,
    (xresnet101, 1000): 44_568_392,
    (xresnet152, 10): 58_183_530,
    (xresnet152, 1000): 60_212_040,
}


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(("builder", "n_out"), list(FASTAI_COUNTS), ids=lambda v: getattr(v, "__name__", str(v)))
def test_parameter_counts_match_fastai(builder, n_out):
    torch.manual_seed(0)
    assert n_params(builder(n_out=n_out)) == FASTAI_COUNTS[(builder, n_out)]


def test_layout_matches_fastai_children():
    m = xresnet50(n_out=10)
    kinds = [type(c).__name__ for c in m.children()]
    assert kinds[:4] == ["ConvBN", "ConvBN", "ConvBN", "MaxPool2d"]
    assert kinds[8:] == ["AdaptiveAvgPool2d", "Flatten", "Dropout", "Linear"]
    # ResNet-D shortcut: xresnet50 stage 1 has only 1x1 conv + BN (no pool); later stages pool first.
    assert [type(c).__name__ for c in m[4][0].idpath] == ["ConvBN"]
    assert [type(c).__name__ for c in m[5][0].idpath] == ["AvgPool2d", "ConvBN"]
    pool = m[5][0].idpath[0]
    assert pool.kernel_size == 2 and pool.ceil_mode
    # ResNet-B: stride on the 3x3 conv of the bottleneck.
    convs = [seq[0] for seq in m[5][0].convpath]
    assert [c.stride for c in convs] == [(1, 1), (2, 2), (1, 1)]
    assert [c.kernel_size for c in convs] == [(1, 1), (3, 3), (1, 1)]
    # ResNet-C stem: three 3x3 convs, the first with stride 2.
    assert [m[i][0].stride for i in range(3)] == [(2, 2), (1, 1), (1, 1)]
    assert [m[i][0].out_channels for i in range(3)] == [32, 32, 64]


def test_init_zero_bn_and_biases():
    m = xresnet50(n_out=10)
    zero_bns = [n for n, mod in m.named_modules() if isinstance(mod, nn.BatchNorm2d) and (mod.weight == 0).all()]
    assert len(zero_bns) == 16 and "4.0.convpath.2.1" in zero_bns  # fastai's count and names
    for name, mod in m.named_modules():
        if isinstance(mod, nn.BatchNorm2d):
            assert (mod.bias == 0).all()
            if name not in zero_bns:
                assert (mod.weight == 1).all()
    assert (m[-1].bias == 0).all()
    # kaiming_normal_ (fan_in, gain sqrt(2)): std of a big conv's weights ~ sqrt(2 / fan_in)
    w = m[6][0].convpath[1][0].weight  # 256 x 256 x 3 x 3
    assert abs(w.std().item() - (2 / (256 * 9)) ** 0.5) < 0.003


@pytest.mark.parametrize(("expansion", "ni", "nh", "stride"), [(1, 64, 64, 1), (1, 32, 64, 2), (4, 16, 64, 1),
                                                              (4, 64, 32, 2)])
def test_fresh_block_is_identity_on_residual_branch(expansion, ni, nh, stride):
    torch.manual_seed(0)
    block = ResBlock(expansion, ni, nh, stride=stride)
    from vision.xresnet import init_cnn

    init_cnn(block).eval()
    x = torch.randn(2, ni * expansion, 9, 9)
    with torch.no_grad():
        out = block(x)
        expected = torch.relu(block.idpath(x))
    assert out.shape == (2, nh * expansion, -(-9 // stride), -(-9 // stride))
    torch.testing.assert_close(out, expected)
    if stride == 1 and ni == nh:
        torch.testing.assert_close(out, torch.relu(x))


@pytest.mark.parametrize("size", [32, 47, 64, 100])
def test_output_shapes(size):
    m = xresnet18(n_out=7, widths=(8, 16, 16, 32), stem_szs=(8, 8, 16)).eval()
    with torch.no_grad():
        assert m(torch.randn(2, 3, size, size)).shape == (2, 7)
        feats = m.body(torch.randn(2, 3, size, size))
    assert feats.shape[:2] == (2, 32) and feats.shape[2] == -(-size // 32)


def test_c_in_1_and_bottleneck_small():
    m = XResNet(4, [1, 1], c_in=1, n_out=3, widths=(8, 16), stem_szs=(8, 8, 16)).eval()
    with torch.no_grad():
        assert m(torch.randn(3, 1, 40, 40)).shape == (3, 3)
    assert m.num_features == 64


def test_act_cls_and_dropout():
    m = xresnet18(n_out=2, act_cls=nn.SiLU, p=0.3, widths=(8, 8, 8, 8))
    assert any(isinstance(x, nn.SiLU) for x in m.modules()) and not any(isinstance(x, nn.ReLU) for x in m.modules())
    assert m[-2].p == 0.3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_out": 0}, "n_out"),
        ({"c_in": 0}, "c_in"),
        ({"p": 1.5}, "p"),
        ({"stem_szs": (32, 64)}, "stem_szs"),
        ({"widths": (64, 128)}, "widths"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        xresnet18(**kwargs)
