"""Image transforms: ImageNet's resize + centre crop, and the flips/shifts that fill short batches."""

from __future__ import annotations

import torch.nn.functional as F
import torchvision.transforms.functional as TF
from PIL import Image
from torch import Tensor

from ..errors import check_positive


def pil_to_uint8(image: Image.Image) -> Tensor:
    """A PIL image -> uint8 (C, H, W) tensor."""
    return TF.pil_to_tensor(image).contiguous()


def imagenet_transform(image: Image.Image, image_size: int = 224, resize: int = 256) -> Image.Image:
    """Resize the shorter side to ``resize`` (bilinear, antialiased), then centre-crop ``image_size``."""
    check_positive("image_size", image_size)
    check_positive("resize", resize)
    image = TF.resize(image, resize, interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    return TF.center_crop(image, image_size)


def variants(max_shift: int = 4) -> list[tuple[bool, int, int]]:
    """Distinct ``(flip, dy, dx)`` copies of an image, identity first, then flip, then growing shifts."""
    shifts = sorted(
        ((dy, dx) for dy in range(-max_shift, max_shift + 1) for dx in range(-max_shift, max_shift + 1)),
        key=lambda s: (max(abs(s[0]), abs(s[1])), abs(s[0]) + abs(s[1]), s),
    )
    return [(flip, dy, dx) for dy, dx in shifts for flip in (False, True)]


def describe(variant: tuple[bool, int, int]) -> str:
    flip, dy, dx = variant
    parts = (["flip"] if flip else []) + ([f"shift({dy},{dx})"] if dy or dx else [])
    return "+".join(parts) or "original"


def apply_variant(image: Tensor, variant: tuple[bool, int, int]) -> Tensor:
    """Flip horizontally and/or translate by (dy, dx) pixels, filling the border by reflection."""
    flip, dy, dx = variant
    out = image.flip(-1) if flip else image
    if dy or dx:
        h, w = out.shape[-2:]
        p = max(abs(dy), abs(dx))
        padded = F.pad(out.unsqueeze(0).float(), (p, p, p, p), mode="reflect" if p < min(h, w) else "replicate")
        padded = padded.squeeze(0).to(out.dtype)
        out = padded[..., p - dy : p - dy + h, p - dx : p - dx + w]
    return out.contiguous()

