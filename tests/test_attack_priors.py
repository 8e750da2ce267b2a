"""The image priors: total variation, box distance, batch-norm statistics (attack/priors.py)."""

from __future__ import annotations

import torch
from attack_helpers import TinyConv, batch

from leaklib.attack import BatchNormStats, total_variation
from leaklib.fl import split_state


def test_total_variation_matches_definition():
    x = torch.tensor([[[[0.0, 1.0], [3.0, 3.0]]]])
    # vertical |3-0|, |3-1| -> mean 2.5; horizontal |1-0|, |3-3| -> mean 0.5
    assert torch.isclose(total_variation(x), torch.tensor(3.0))
    assert total_variation(torch.ones(2, 3, 5, 5)) == 0


def test_bn_statistics_penalty_matches_manual():
    model = TinyConv()
    params, buffers = split_state(model)
    x, _ = batch(3)
    with BatchNormStats(model) as stats:
        stats.recording = True
        model(x)
        penalty = stats.penalty(buffers)
    h = model.conv(x)
    mean, var = h.mean((0, 2, 3)), h.var((0, 2, 3), unbiased=False)
    manual = (mean - model.bn.running_mean).norm() + (var - model.bn.running_var).norm()
    assert torch.allclose(penalty, manual, atol=1e-5)
