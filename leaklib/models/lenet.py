"""LeNet of DLG (Zhu et al. 2019), the shallow smooth network Inverting Gradients compares against (Sec. 5).

Sigmoid activations, three 5x5 convolutions with 12 channels (strides 2, 2, 1; padding 2) and one fully
connected layer. DLG initialises every weight and bias uniformly in [-0.5, 0.5]; that init is part of why
L-BFGS gradient matching succeeds on it, so it is reproduced here.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LeNetZhu(nn.Module):
    """DLG's LeNet for (C, H, W) images: conv-sigmoid x3, flatten, linear."""

    def __init__(self, num_classes: int = 10, image_shape: tuple[int, int, int] = (3, 32, 32)) -> None:
        super().__init__()
        c, h, w = image_shape
        self.body = nn.Sequential(
            nn.Conv2d(c, 12, kernel_size=5, stride=2, padding=2), nn.Sigmoid(),
            nn.Conv2d(12, 12, kernel_size=5, stride=2, padding=2), nn.Sigmoid(),
            nn.Conv2d(12, 12, kernel_size=5, stride=1, padding=2), nn.Sigmoid(),
        )
        h_out, w_out = (h + 1) // 2, (w + 1) // 2  # stride 2, kernel 5, padding 2: ceil(h / 2)
        h_out, w_out = (h_out + 1) // 2, (w_out + 1) // 2
        self.fc = nn.Linear(12 * h_out * w_out, num_classes)
        self.reset_dlg()

    @torch.no_grad()
    def reset_dlg(self) -> None:
        """DLG's init: weights and biases ~ U(-0.5, 0.5) (draws from the current torch RNG)."""
        for p in self.parameters():
            p.uniform_(-0.5, 0.5)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.body(x).flatten(1))
