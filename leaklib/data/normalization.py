"""Per-dataset input normalisation: models see ``(x01 - mean) / std``, metrics see ``x01``.

Both papers feed normalised images to the network and optimise/report in [0, 1] pixel space
(Inverting Gradients, Sec. 3: the box constraint x in [0,1]^n), so the attack needs the exact map both ways.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import LeaklibError


@dataclass(frozen=True)
class Normalization:
    """Channel-wise mean and standard deviation of a dataset, in [0, 1] pixel units."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        if len(self.mean) != len(self.std) or not self.mean:
            raise LeaklibError(
                f"normalisation needs one mean and one std per channel, got {len(self.mean)} means "
                f"and {len(self.std)} stds"
            )
        if any(not s > 0 for s in self.std):
            raise LeaklibError(f"normalisation std must be > 0 for every channel, got {self.std}")

    @property
    def channels(self) -> int:
        return len(self.mean)

    def _stats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.dim() < 3 or x.shape[-3] != self.channels:
            raise LeaklibError(
                f"expected images shaped (..., {self.channels}, H, W), got {tuple(x.shape)}"
            )
        shape = (self.channels, 1, 1)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(shape)
        return mean, std

    def normalize(self, x01: Tensor) -> Tensor:
        """[0, 1] images (..., C, H, W) -> network inputs ``(x - mean) / std``."""
        mean, std = self._stats(x01)
        return (x01 - mean) / std

    def denormalize(self, x: Tensor) -> Tensor:
        """Network inputs -> [0, 1] pixel units ``x * std + mean`` (the inverse of :meth:`normalize`)."""
        mean, std = self._stats(x)
        return x * std + mean


# Standard statistics of each training set (pixel units). CIFAR values as used by Geiping et al.'s
# experiments; ImageNet's are torchvision's. Fashion-MNIST: measured on the 60,000 training images
# of /usr/share/datasets/fashion-mnist with leaklib.data.fashion_mnist (mean 0.28604, std 0.35302).
CIFAR10 = Normalization((0.4914672, 0.4822617, 0.4467701), (0.2470322, 0.2434851, 0.2615879))
CIFAR100 = Normalization((0.5071598, 0.4866936, 0.4412019), (0.2673343, 0.2564385, 0.2761505))
IMAGENET = Normalization((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
FASHION_MNIST = Normalization((0.2860,), (0.3530,))
