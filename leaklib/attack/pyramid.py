"""The dummy images as a sum of resolution levels (a Laplacian-style pyramid), optimised level by level.

With ``AttackConfig.scales = L`` the attack does not optimise pixels directly but L tensors: the full
resolution image and L-1 coarser ones (each half the size of the previous), and the images are their sum
after bilinear upsampling. A signed-Adam step moves every entry of every level by up to ``lr``, so a coarse
entry moves a whole 2^l x 2^l block at once: the low frequencies, which carry most of an image's content,
converge in fewer iterations (measured in docs/BENCHMARK.md). ``L = 1`` is the plain pixel
parameterisation of Inverting Gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def start_levels(images: Tensor, scales: int) -> list[Tensor]:
    """The pyramid that starts at ``images`` (..., C, H, W): the images themselves and coarser levels of zeros."""
    h, w = images.shape[-2:]
    return [images] + [images.new_zeros(*images.shape[:-2], -(-h // 2**s), -(-w // 2**s))
                       for s in range(1, scales)]


def synthesize(levels: list[Tensor]) -> Tensor:
    """The images the levels stand for: the finest level plus every coarser one upsampled to its size."""
    images = levels[0]
    if len(levels) == 1:
        return images
    lead, (h, w) = images.shape[:-3], images.shape[-2:]
    for level in levels[1:]:
        flat = level.reshape(-1, *level.shape[-3:])
        up = F.interpolate(flat, size=(h, w), mode="bilinear", align_corners=False)
        images = images + up.reshape(*lead, *up.shape[-3:])
    return images


def project(levels: list[Tensor], lower: Tensor, upper: Tensor) -> list[Tensor]:
    """Levels whose images lie in the pixel box: the clamping correction goes into the finest level."""
    if len(levels) == 1:
        return [torch.clamp(levels[0], lower, upper)]
    images = synthesize(levels)
    return [levels[0] + (torch.clamp(images, lower, upper) - images)] + list(levels[1:])
