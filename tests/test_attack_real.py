"""The engine against the plain ``torch.autograd`` loop of the Inverting Gradients recipe (attack/reference.py),
on a real image."""

from __future__ import annotations

import torch

from leaklib.attack import AttackConfig, invert, pixel_box, plain_inverting_gradients
from leaklib.data import load_dataset, make_batch
from leaklib.fl import fedsgd_update
from leaklib.models import build


def test_engine_follows_a_plain_implementation_of_the_recipe():
    ds = load_dataset("cifar10-sample")
    batch = make_batch(ds, 1, indices=[0])
    model = build("lenet-zhu")
    obs = fedsgd_update(model, batch.images, batch.labels)
    lower, upper = pixel_box(batch.normalization, 3)
    iterations = 16
    res = invert(model, obs, batch.labels, AttackConfig(iterations=iterations, tv=1e-4), image_shape=ds.image_shape,
                 normalization=batch.normalization, restart_seeds=[5], progress=False, device="cpu")
    start = torch.randn((1, 3, 32, 32), generator=torch.Generator().manual_seed(5)).clamp(lower, upper)
    x, losses = plain_inverting_gradients(model, obs.gradient, batch.labels, lower, upper, start, iterations, 1e-4)
    assert torch.allclose(torch.tensor(res.loss_history[0]), torch.tensor(losses), rtol=1e-3)
    # Signs of near-zero gradient entries may differ in float32; nearly all pixels agree.
    assert ((res.images - x).abs() < 1e-4).float().mean() > 0.98
