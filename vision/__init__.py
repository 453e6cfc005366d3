"""Vision add-on: XResNet, mixup, label smoothing and transfer learning on ulmfit's training core."""

from vision.data import image_data
from vision.head import TransferModel, create_head, transfer_model
from vision.learner import ChannelsLast, evaluate, fine_tune, load_model, predict, save_model
from vision.losses import LabelSmoothingCrossEntropy
from vision.mixup import MixUp
from vision.xresnet import XResNet, xresnet18, xresnet34, xresnet50, xresnet101, xresnet152

__all__ = [
    "ChannelsLast",
    "LabelSmoothingCrossEntropy",
    "MixUp",
    "TransferModel",
    "XResNet",
    "create_head",
    "evaluate",
    "fine_tune",
    "image_data",
    "load_model",
    "predict",
    "save_model",
    "transfer_model",
    "xresnet18",
    "xresnet34",
    "xresnet50",
    "xresnet101",
    "xresnet152",
]
