"""Vision add-on: XResNet, mixup, label smoothing and transfer learning on ulmfit's training core."""
