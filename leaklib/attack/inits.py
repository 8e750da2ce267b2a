"""Initial dummy images, one generator per restart so that restarts are reproducible one by one."""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import check_choice
from .config import INITS


def restart_seed(seed: int, restart: int) -> int:
    """The seed of restart ``r`` of an attack with ``seed``: ``seed * 1000 + r``."""
    return seed * 1000 + restart


def init_images(kind: str, shape: tuple[int, ...], generator: torch.Generator, *, patch_size: int = 4,
                lower: Tensor | None = None, upper: Tensor | None = None) -> Tensor:
    """One restart's dummy batch of ``shape`` (N, C, H, W), drawn on the CPU from ``generator``.

    ``normal``: standard normal (Inverting Gradients); ``uniform``: uniform over the pixel box
    ``[lower, upper]`` (per channel; [0,1] if not given); ``patch``: a random ``patch_size`` square tiled
    over the image (a structured start with strong local correlation, as in Geng et al.'s better inits).
    """
    check_choice("init", kind, INITS)
    n, c, h, w = shape
    if kind == "normal":
        return torch.randn(shape, generator=generator)
    lo = torch.zeros(c, 1, 1) if lower is None else lower.reshape(c, 1, 1).cpu()
    hi = torch.ones(c, 1, 1) if upper is None else upper.reshape(c, 1, 1).cpu()
    if kind == "uniform":
        u = torch.rand(shape, generator=generator)
    else:
        p = min(patch_size, h, w)
        patch = torch.rand((n, c, p, p), generator=generator)
        u = patch.repeat(1, 1, -(-h // p), -(-w // p))[:, :, :h, :w].contiguous()
    return lo + (hi - lo) * u
