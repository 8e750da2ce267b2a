"""The ConvNet of Inverting Gradients (Sec. 5): eight 3x3 conv-BN-ReLU layers and a linear layer.

Channels w, 2w, 2w, 4w, 4w, 4w, (max-pool 3), 4w, 4w, (max-pool 3), flatten, linear. ``convnet`` is width 64,
the width Inverting Gradients uses; ``convnet-{w}`` sets another width.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn

DEFAULT_WIDTH = 64


class ConvNet(nn.Module):
    """Inverting Gradients' ConvNet with batch norm, for (C, H, W) images."""

    def __init__(self, width: int = DEFAULT_WIDTH, num_classes: int = 10,
                 image_shape: tuple[int, int, int] = (3, 32, 32)) -> None:
        super().__init__()
        c, h, w = image_shape
        plan = [(c, width), (width, 2 * width), (2 * width, 2 * width), (2 * width, 4 * width),
                (4 * width, 4 * width), (4 * width, 4 * width), "pool", (4 * width, 4 * width),
                (4 * width, 4 * width), "pool"]
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        i = p = 0
        for step in plan:
            if step == "pool":
                layers[f"pool{p}"] = nn.MaxPool2d(3)
                h, w, p = h // 3, w // 3, p + 1
                continue
            layers[f"conv{i}"] = nn.Conv2d(step[0], step[1], kernel_size=3, padding=1)
            layers[f"bn{i}"] = nn.BatchNorm2d(step[1])
            layers[f"relu{i}"] = nn.ReLU()
            i += 1
        if h < 1 or w < 1:
            raise ValueError(f"images of shape {image_shape} are too small for ConvNet (two 3x max-pools)")
        self.features = nn.Sequential(layers)
        self.fc = nn.Linear(4 * width * h * w, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).flatten(1))
