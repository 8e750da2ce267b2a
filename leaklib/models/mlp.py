"""A small fully connected network, the setting of Inverting Gradients' Proposition 3.1.

Its first layer is an ``nn.Linear`` with bias on the flattened (normalised) image, so a single input is
recovered exactly from the gradients: x = (dL/dA[i, :]) / (dL/db[i]) for any row i with a non-zero bias gradient.
"""

from __future__ import annotations

import math

from torch import Tensor, nn


class MLP(nn.Module):
    """Flatten -> Linear(d, hidden, bias) -> ReLU -> Linear(hidden, num_classes)."""

    def __init__(self, hidden: int, num_classes: int = 10, image_shape: tuple[int, int, int] = (3, 32, 32)) -> None:
        super().__init__()
        self.fc1 = nn.Linear(math.prod(image_shape), hidden, bias=True)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.relu(self.fc1(x.flatten(1))))
