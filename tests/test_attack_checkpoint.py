"""Checkpoints: a resumed attack gives the uninterrupted result (attack/checkpoint.py)."""

from __future__ import annotations

import pytest
import torch
from attack_helpers import SHAPE, TinyConv, batch, quick

from leaklib.attack import invert
from leaklib.errors import LeaklibError
from leaklib.fl import fedavg_update


class Stop(Exception):
    pass


@pytest.mark.parametrize("scales", [1, 3])
def test_checkpoint_resume_gives_the_uninterrupted_result(tmp_path, scales):
    model = TinyConv()
    x, y = batch(2)
    obs = fedavg_update(model, x, y, epochs=1, batch_size=1, lr=0.1)
    cfg = quick(iterations=16, restarts=2, checkpoint_every=4, tv=1e-3, scales=scales)
    run = dict(image_shape=SHAPE, seed=3, progress=False)
    full = invert(model, obs, "joint", cfg, **run)

    def kill_at_10(iteration, losses):
        if iteration == 10:
            raise Stop

    path = tmp_path / "attack.pt"
    with pytest.raises(Stop):
        invert(model, obs, "joint", cfg, checkpoint_path=path, callback=kill_at_10, **run)
    assert torch.load(path, weights_only=False)["iteration"] == 8  # last checkpoint before the kill
    resumed = invert(model, obs, "joint", cfg, checkpoint_path=path, **run)
    assert resumed.extra["resumed_from"] == 8
    assert torch.equal(resumed.images, full.images) and torch.equal(resumed.labels, full.labels)
    assert resumed.loss_history == full.loss_history and resumed.restart_losses == full.restart_losses
    with pytest.raises(LeaklibError, match="another attack"):
        invert(model, obs, "joint", cfg.replace(tv=0.0), checkpoint_path=path, **run)
