import re

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ulmfit.train import Callback, Learner
from vision import MixUp, TransferModel, transfer_model
from vision.learner import ChannelsLast, VisionTrainConfig, build_model, fine_tune, load_model, save_model
from vision.xresnet import XResNet

SMALL = dict(widths=(8, 16), stem_szs=(8, 8, 8))


def tiny_xresnet(n_out=3, **kw):
    return XResNet(1, [1, 1], n_out=n_out, **{**SMALL, **kw})


def shapes_data(n, size=20, seed=0):
    """Class 0: horizontal bar, 1: vertical bar, 2: a filled square; random positions, noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, size, size, generator=g) * 0.3
    y = torch.arange(n) % 3
    for i in range(n):
        r, c = torch.randint(2, size - 8, (2,), generator=g).tolist()
        if y[i] == 0:
            x[i, :, r : r + 2, 2 : size - 2] += 2
        elif y[i] == 1:
            x[i, :, 2 : size - 2, c : c + 2] += 2
        else:
            x[i, :, r : r + 6, c : c + 6] += 2
    return x, y


def loaders(n_train=96, n_valid=48, bs=16, size=20):
    torch.manual_seed(0)
    tr = DataLoader(TensorDataset(*shapes_data(n_train, size, seed=1)), batch_size=bs, shuffle=True,
                    drop_last=True, generator=torch.Generator().manual_seed(0))
    va = DataLoader(TensorDataset(*shapes_data(n_valid, size, seed=2)), batch_size=bs)
    return tr, va


def test_small_xresnet_learns_synthetic_shapes():
    from ulmfit.train import accuracy

    tr, va = loaders(n_train=144, n_valid=60, bs=16, size=16)
    torch.manual_seed(0)
    learn = Learner(tiny_xresnet(), tr, va, loss_func=nn.CrossEntropyLoss(), metrics=[accuracy], progress=False,
                    device="cpu", seed=0, callbacks=[MixUp(0.2)])
    assert learn.validate()["accuracy"] < 0.6  # not solved by chance at init
    learn.fit_one_cycle(4, 1e-2)
    assert learn.validate()["accuracy"] >= 0.95


def test_frozen_body_trains_only_batchnorm_and_head():
    tr, va = loaders(n_train=32)
    torch.manual_seed(0)
    model = transfer_model(tiny_xresnet(), 3)
    learn = Learner(model, tr, va, loss_func=nn.CrossEntropyLoss(), progress=False, device="cpu", wd=0.1)
    learn.freeze()
    body_convs = {n: p for n, p in model.body.named_parameters() if p.dim() == 4}
    body_bn = {n: m.weight for n, m in model.body.named_modules() if isinstance(m, nn.BatchNorm2d)}
    assert body_convs and not any(p.requires_grad for p in body_convs.values())
    assert all(w.requires_grad for w in body_bn.values())
    assert all(p.requires_grad for p in model.head.parameters())
    conv_before = {n: p.detach().clone() for n, p in body_convs.items()}
    bn_before = {n: w.detach().clone() for n, w in body_bn.items()}
    head_before = model.head[4].weight.detach().clone()
    learn.fit(1, 1e-2)
    assert all(torch.equal(conv_before[n], p) for n, p in body_convs.items())
    assert any(not torch.equal(bn_before[n], w) for n, w in body_bn.items())
    assert not torch.equal(head_before, model.head[4].weight)


def test_fine_tune_recipe_schedules(monkeypatch):
    calls = []
    tr, va = loaders(n_train=32)
    learn = Learner(transfer_model(tiny_xresnet(), 3), tr, va, loss_func=nn.CrossEntropyLoss(), progress=False,
                    device="cpu")
    monkeypatch.setattr(learn, "fit_one_cycle", lambda n, lr, **kw: calls.append(
        (n, lr, kw, [p.requires_grad for p in learn.model.body.parameters()])) or stages.append(learn.stage))
    stages = []
    fine_tune(learn, 3, base_lr=2e-3, freeze_epochs=1)
    assert [s.header() for s in stages] == [
        "stage 1/2: head only (frozen body) (1 of 3 layer groups trainable), lr 2.0e-03, 1 epoch",
        "stage 2/2: all layers (3 of 3 layer groups trainable), lr 1.0e-05 .. 1.0e-03, 3 epochs"]
    (n1, lr1, kw1, rg1), (n2, lr2, kw2, rg2) = calls
    assert (n1, lr1, kw1) == (1, slice(2e-3), {"pct_start": 0.99})
    assert not all(rg1) and all(rg2)
    assert (n2, kw2) == (3, {"pct_start": 0.3, "div": 5.0})
    assert lr2.start == pytest.approx(1e-5) and lr2.stop == pytest.approx(1e-3)
    calls.clear()
    stages.clear()
    fine_tune(learn, 2, freeze_epochs=0)  # no head-only stage: one stage, "all layers"
    assert [(s.name, s.index, s.count, s.epochs) for s in stages] == [("all layers", 0, 1, 2)]


def test_channels_last_same_output_and_trains():
    torch.manual_seed(0)
    model = tiny_xresnet().eval()
    x = torch.randn(2, 3, 20, 20)
    ref = model(x)
    tr, _ = loaders(n_train=32)
    learn = Learner(model, tr, loss_func=nn.CrossEntropyLoss(), progress=False, device="cpu",
                    callbacks=[ChannelsLast()])
    learn.fit(1, 1e-3)
    assert learn.xb.is_contiguous(memory_format=torch.channels_last)
    assert model[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    model2 = tiny_xresnet().eval()
    torch.manual_seed(0)
    model2 = tiny_xresnet().eval().to(memory_format=torch.channels_last)
    torch.testing.assert_close(model2(x.contiguous(memory_format=torch.channels_last)), ref, rtol=1e-4, atol=1e-5)


def test_save_load_and_reuse_body_with_new_classes(tmp_path):
    torch.manual_seed(0)
    model = build_model("xresnet18", 3, arch_kwargs={"widths": (8, 8, 8, 8), "stem_szs": (8, 8, 8)})
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))  # distinguishable from a fresh init
    save_model(tmp_path / "m", model, ["a", "b", "c"], 32, (0.5, 0.5, 0.5), (0.2, 0.2, 0.2))
    loaded, config = load_model(tmp_path / "m")
    assert config["classes"] == ["a", "b", "c"] and config["size"] == 32
    for (n, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), n
    # re-use for 5 classes: body weights from the folder, a fresh head
    tm = build_model("xresnet18", 5, checkpoint=str(tmp_path / "m"))
    assert isinstance(tm, TransferModel) and tm.split_at == 3
    for a, b in zip(model.body.state_dict().values(), tm.body.state_dict().values()):
        assert torch.equal(a, b)
    tm.eval()
    assert tm(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    # a fine-tuned transfer model saves and loads too
    tm2 = build_model("xresnet18", 5, checkpoint=tmp_path / "m")
    save_model(tmp_path / "t", tm2, list("vwxyz"), 32, (0.5,) * 3, (0.2,) * 3)
    again, cfg2 = load_model(tmp_path / "t")
    assert cfg2["transfer"] and isinstance(again, TransferModel)
    for a, b in zip(tm2.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="holds a 'xresnet18' model"):
        build_model("xresnet34", 5, checkpoint=str(tmp_path / "m"))
    # a transfer model's folder: its body and split point are reused, with a new head again
    tm3 = build_model("xresnet18", 2, checkpoint=tmp_path / "t")
    assert isinstance(tm3, TransferModel) and tm3.split_at == 3 and tm3.spec["arch_kwargs"] == cfg2["arch_kwargs"]
    for a, b in zip(tm2.body.state_dict().values(), tm3.body.state_dict().values()):
        assert torch.equal(a, b)
    assert tm3.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 2)


def test_load_errors(tmp_path):
    from ulmfit.model_folder import ModelFolderError

    with pytest.raises(ModelFolderError, match="does not exist"):
        load_model(tmp_path / "missing")
    model = build_model("xresnet18", 2, arch_kwargs={"widths": (8, 8, 8, 8), "stem_szs": (8, 8, 8)})
    save_model(tmp_path / "m", model, ["a", "b"], 32, (0.5,) * 3, (0.2,) * 3)
    torch.save({"0.0.weight": torch.zeros(1)}, tmp_path / "m" / "model.pt")
    with pytest.raises(ModelFolderError, match=r"model\.pt does not match its sha256"):  # the manifest sees it
        load_model(tmp_path / "m")
    from ulmfit.hub.model_folder import write_manifest

    write_manifest(tmp_path / "m", ["model.pt", "config.json"])  # consistent files, wrong weights
    with pytest.raises(ModelFolderError, match="does not fit"):
        load_model(tmp_path / "m")


def test_config_validation():
    with pytest.raises(ValueError, match="precision"):
        VisionTrainConfig(data="x", precision="fp8")
    with pytest.raises(ValueError, match="arch"):
        VisionTrainConfig(data="x", arch="resnet18")
    with pytest.raises(ValueError, match="unknown training options"):
        VisionTrainConfig.from_dict({"data": "x", "lr_max": 1})
    assert VisionTrainConfig(data="x").arch == "xresnet50"
    for bad, accepted in (({"data": None}, "a built-in name"), ({"data": " "}, "a built-in name"),
                          ({"out": 3}, "None or a folder path"), ({"workers": -1}, "None or an int >= 0"),
                          ({"seed": -1}, r"an int in \[0, 2\*\*32\)"), ({"channels_last": "yes"}, "True or False")):
        name, value = next(iter(bad.items()))
        with pytest.raises(ValueError, match=rf"^{name} must be {accepted}.*, got {re.escape(repr(value))}$"):
            VisionTrainConfig(**{"data": "x", **bad})


class _Recorder(Callback):
    def __init__(self):
        self.seen = []

    def before_batch(self, learn):  # runs after MixUp's before_batch (added later)
        self.seen.append((learn.training, learn.xb.detach().clone(), learn.loss_func))


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_mixup_in_learner_training_only(precision):
    from vision import LabelSmoothingCrossEntropy

    tr, va = loaders(n_train=32, n_valid=16, bs=8, size=16)
    base = LabelSmoothingCrossEntropy(0.1)
    mix, rec = MixUp(0.4), _Recorder()
    learn = Learner(tiny_xresnet(), tr, va, loss_func=base, progress=False, device="cpu", precision=precision,
                    callbacks=[mix, rec])
    learn.fit(1, 1e-3)
    train_x = torch.cat([x for t, x, _ in rec.seen if t])
    valid = [(x, lf) for t, x, lf in rec.seen if not t]
    assert all(lf is base for _, lf in valid) and all(lf is not base for t, _, lf in rec.seen if t)
    torch.testing.assert_close(torch.cat([x for x, _ in valid]), va.dataset.tensors[0])  # nothing mixed
    raw = tr.dataset.tensors[0]
    assert not any(torch.equal(train_x[i], raw[j]) for i in range(4) for j in range(len(raw)))
    assert learn.loss_func is base and torch.isfinite(torch.tensor(learn.history[-1]["train_loss"]))


def test_exact_resume_mid_epoch_with_image_loaders_and_mixup(image_folder, tmp_path):
    from ulmfit.train import CheckpointCallback
    from vision.data import image_data

    def run(path, resume=None, cbs=(), seed=0):
        d = image_data(image_folder, size=16, bs=4, workers=0, device="cpu", seed=5)
        learn = Learner(tiny_xresnet(), d.train, d.valid, loss_func=nn.CrossEntropyLoss(), progress=False,
                        device="cpu", seed=seed, path=path, callbacks=[MixUp(0.4), *cbs])
        learn.fit_one_cycle(2, 1e-2, resume=resume)
        return learn.model.state_dict()

    ckpt_cb = CheckpointCallback(every_n_steps=6, every_epoch=False, filename="ck.pt")
    full = run(tmp_path / "a", cbs=[ckpt_cb])  # 4 batches per epoch: the checkpoint is mid-epoch 2
    # another seed: everything must come from the checkpoint (weights, RNG) and from set_epoch (order)
    resumed = run(tmp_path / "b", resume=tmp_path / "a" / "ck.pt", seed=1)
    for k in full:
        assert torch.equal(full[k], resumed[k]), k


def test_train_with_the_same_seed_gives_the_same_weights(tmp_path):
    from tests.vision.conftest import make_image_folder
    from vision.learner import train

    data = make_image_folder(tmp_path / "imgs", n_train=4, n_val=2)

    def weights(seed):
        config = VisionTrainConfig(data=str(data), arch="xresnet18", size=32, epochs=1, bs=6, workers=0, mixup=0.2,
                                   device="cpu", progress=False, seed=seed)
        learn, _ = train(config)
        return {k: v.clone() for k, v in learn.model.state_dict().items()}

    assert VisionTrainConfig(data="x").seed == 42
    first = weights(5)
    assert all(torch.equal(first[k], v) for k, v in weights(5).items())
    assert any(not torch.equal(first[k], v) for k, v in weights(6).items())


def test_predict_refuses_a_single_path_a_bad_batch_size_and_a_file_that_is_no_image(tmp_path):
    from vision.learner import predict

    model = build_model("xresnet18", 2, arch_kwargs={"widths": (8, 8, 8, 8), "stem_szs": (8, 8, 8)})
    folder = save_model(tmp_path / "m", model, ["a", "b"], 16, (0.5,) * 3, (0.25,) * 3)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(TypeError, match=r"^images must be a list of image paths, got a single path \('.*notes.jpg'\)"):
        predict(folder, str(text))  # not one "image" per character of the path
    with pytest.raises(ValueError, match=r"^predict: bs must be an int >= 1, got 0$"):
        predict(folder, [text], bs=0)
    with pytest.raises(ValueError, match=r"^cannot read image file '.*notes.jpg': not an image format PIL can open"):
        predict(folder, [text], device="cpu")
