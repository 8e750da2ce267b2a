"""What prepare() checks and builds: bad input to invert, the pixel box (attack/problem.py)."""

from __future__ import annotations

import pytest
import torch
from attack_helpers import SHAPE, TinyConv, batch, quick

from leaklib.attack import AttackProblem, box_distance, init_images, invert, pixel_box, prepare
from leaklib.errors import LeaklibError
from leaklib.fl import FedSGD, fedsgd_update


def test_box_distance_and_pixel_box():
    class Norm:
        mean, std = (0.5, 0.5, 0.5), (0.25, 0.5, 1.0)

    lo, hi = pixel_box(Norm(), 3)
    assert torch.allclose(lo.flatten(), torch.tensor([-2.0, -1.0, -0.5]))
    assert torch.allclose(hi.flatten(), torch.tensor([2.0, 1.0, 0.5]))
    inside = (lo + hi) / 2 * torch.ones(1, 3, 4, 4)
    assert box_distance(inside, lo, hi) == 0
    assert box_distance(inside + 10, lo, hi) > 0


def test_invert_rejects_bad_input():
    model = TinyConv()
    x, y = batch(2)
    obs = fedsgd_update(model, x, y)
    run = dict(image_shape=SHAPE, progress=False, device="cpu")
    grads = dict(obs.gradient)
    grads["fc.weight"] = grads["fc.weight"][:, :10]
    with pytest.raises(LeaklibError, match="shape"):
        invert(model, FedSGD(grads, 2), y, quick(), **run)
    with pytest.raises(LeaklibError, match="trainable parameters"):
        invert(model, FedSGD({k: v for k, v in obs.gradient.items() if k != "fc.bias"}, 2), y, quick(), **run)
    nan = dict(obs.gradient)
    nan["conv.weight"] = nan["conv.weight"].clone()
    nan["conv.weight"][0, 0, 0, 0] = float("nan")
    with pytest.raises(LeaklibError, match="NaN or Inf"):
        invert(model, FedSGD(nan, 2), y, quick(), **run)
    with pytest.raises(LeaklibError, match=r"in 0\.\.4"):
        invert(model, obs, torch.tensor([0, 7]), quick(), **run)
    with pytest.raises(LeaklibError, match="3 labels for 2 images"):
        invert(model, obs, torch.tensor([0, 1, 2]), quick(), **run)
    with pytest.raises(LeaklibError, match="'joint'"):
        invert(model, obs, "soft", quick(), **run)
    with pytest.raises(LeaklibError, match="num_images=3"):
        invert(model, obs, y, quick(), num_images=3, **run)
    with pytest.raises(LeaklibError, match="image_shape"):
        invert(model, obs, y, quick(), **{**run, "image_shape": (3, 9, 9)})


def test_prepare_builds_the_fixed_problem_and_each_restarts_start():
    model = TinyConv()
    x, y = batch(2)
    obs = fedsgd_update(model, x, y)
    problem = prepare(model, obs, "joint", quick(restarts=2, scales=2, bn_mode="train"), image_shape=SHAPE, seed=4,
                      device="cpu")
    assert isinstance(problem, AttackProblem) and problem.seeds == [4000, 4001] and problem.joint
    assert problem.known_labels is None and problem.num_classes == 5 and problem.names[0] == "conv.weight"
    images, coarse, logits = problem.start  # two resolution levels, then the label logits
    assert images.shape == (2, 2, *SHAPE) and coarse.shape == (2, 2, 3, 4, 4) and logits.shape == (2, 2, 5)
    first = init_images("normal", (2, *SHAPE), torch.Generator().manual_seed(4000))
    assert torch.allclose(images[0], first.clamp(problem.lower, problem.upper), atol=1e-6)  # its seed, boxed
    assert problem.restart_buffers["bn.running_mean"].shape == (2, 4)  # train-mode BN: a copy per restart
