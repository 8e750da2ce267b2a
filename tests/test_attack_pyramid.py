"""Images as a sum of resolution levels (attack/pyramid.py)."""

from __future__ import annotations

import pytest
import torch
from attack_helpers import SHAPE, TinyConv, batch, quick

from leaklib.attack import invert, pixel_box
from leaklib.attack.pyramid import project, start_levels, synthesize
from leaklib.errors import LeaklibError
from leaklib.fl import fedsgd_update


def test_pyramid_levels_synthesis_and_projection():
    images = torch.randn(2, 1, 3, 7, 8)
    levels = start_levels(images, 3)
    assert [tuple(v.shape[-2:]) for v in levels] == [(7, 8), (4, 4), (2, 2)]
    assert torch.equal(synthesize(levels), images)  # coarse levels start at zero
    levels[2] = torch.ones_like(levels[2])  # a constant coarse level adds a constant
    assert torch.allclose(synthesize(levels), images + 1)
    lower, upper = pixel_box(None, 3)
    boxed = project(levels, lower, upper)
    out = synthesize(boxed)
    assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6
    assert torch.equal(boxed[2], levels[2])  # the correction goes into the finest level
    assert torch.allclose(out, synthesize(levels).clamp(0, 1), atol=1e-6)


def test_pyramid_attack_returns_boxed_images_and_lowers_the_loss():
    model = TinyConv()
    x, y = batch(2)
    obs = fedsgd_update(model, x, y)
    cfg = quick(iterations=30, scales=3, tv=1e-3)
    result = invert(model, obs, y, cfg, image_shape=SHAPE, progress=False)
    assert result.images.shape == x.shape and result.images.min() >= -1e-6 and result.images.max() <= 1 + 1e-6
    assert result.loss_history[0][-1] < result.loss_history[0][0]
    with pytest.raises(LeaklibError, match="scales"):
        cfg.replace(scales=0)
