"""Prop. 3.1 (Inverting Gradients): a linear first layer with bias leaks its single input exactly."""

from __future__ import annotations

import pytest
import torch

from leaklib.attack import first_linear, recover_linear_input
from leaklib.errors import LeaklibError
from leaklib.fl import FedSGD, fedavg_update, fedsgd_update
from leaklib.models import build


def image(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn((1, 3, 32, 32), generator=g), torch.tensor([3])


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("rows", ["max", "lstsq"])
def test_single_image_leaks_exactly_from_mlp(dtype, tol, rows):
    model = build("mlp-64").to(dtype)
    x, y = image()
    x = x.to(dtype)
    obs = fedsgd_update(model, x, y)
    w, b = first_linear(model)
    assert (w, b) == ("fc1.weight", "fc1.bias")
    rec = recover_linear_input(obs, w, b, rows=rows, image_shape=(1, 3, 32, 32))
    err = (rec - x).abs().max().item()
    assert err < tol, err


def test_fedavg_one_step_pseudo_gradient_leaks_too():
    model = build("mlp-64")
    x, y = image(1)
    obs = fedavg_update(model, x, y, epochs=1, lr=0.1)
    rec = recover_linear_input(obs, *first_linear(model), image_shape=x.shape)
    assert (rec - x).abs().max() < 1e-3  # float32, through (w_T - w_0) / lr


def test_a_batch_does_not_leak_exactly():
    model = build("mlp-64")
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    obs = fedsgd_update(model, x, torch.tensor([0, 1, 2, 3]))
    rec = recover_linear_input(obs, *first_linear(model))
    assert min((rec - xi.flatten()).abs().max() for xi in x) > 1e-2


def test_bad_input():
    model = build("mlp-64")
    x, y = image()
    obs = fedsgd_update(model, x, y)
    with pytest.raises(LeaklibError, match="no entry"):
        recover_linear_input(obs, "conv.weight", "fc1.bias")
    zero = {k: torch.zeros_like(v) for k, v in obs.gradient.items()}
    with pytest.raises(LeaklibError, match="bias gradient"):
        recover_linear_input(FedSGD(zero, 1), "fc1.weight", "fc1.bias")
    with pytest.raises(LeaklibError, match="valid row rules"):
        recover_linear_input(obs, "fc1.weight", "fc1.bias", rows="mean")
    with pytest.raises(LeaklibError, match="no nn.Linear"):
        first_linear(torch.nn.Conv2d(3, 3, 3))
