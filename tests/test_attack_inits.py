"""The restarts' initial images and seeds (attack/inits.py)."""

from __future__ import annotations

import torch

from leaklib.attack import init_images, restart_seed


def test_inits_shapes_box_and_patch_tiling():
    lo, hi = torch.tensor([-1.0, 0.0, 2.0]), torch.tensor([1.0, 0.5, 3.0])
    for kind in ("normal", "uniform", "patch"):
        a = init_images(kind, (2, 3, 8, 8), torch.Generator().manual_seed(4), lower=lo, upper=hi)
        b = init_images(kind, (2, 3, 8, 8), torch.Generator().manual_seed(4), lower=lo, upper=hi)
        assert a.shape == (2, 3, 8, 8) and torch.equal(a, b)
        if kind != "normal":
            assert (a >= lo.view(3, 1, 1)).all() and (a <= hi.view(3, 1, 1)).all()
    p = init_images("patch", (1, 3, 8, 8), torch.Generator().manual_seed(0), patch_size=4)
    assert torch.equal(p[..., :4, :4], p[..., 4:, 4:]) and not torch.equal(p[..., :2, :2], p[..., 2:4, 2:4])
    assert restart_seed(3, 2) == 3002
