"""The gradient-matching distances and their closed-form gradients (attack/objectives.py)."""

from __future__ import annotations

import pytest
import torch
from attack_helpers import TinyConv

from leaklib.attack import cosine_distance, euclidean_distance
from leaklib.attack.objectives import MatchTarget, distance_and_grad, element_weights, flatten
from leaklib.errors import LeaklibError
from leaklib.fl import split_state


def test_cosine_distance_values_and_scale_invariance():
    g = torch.randn(50)
    assert cosine_distance(g, g).abs() < 1e-6
    assert (cosine_distance(-g, g) - 2).abs() < 1e-6
    h = torch.randn(50)
    assert torch.allclose(cosine_distance(3.0 * h, g), cosine_distance(h, g), atol=1e-6)
    assert torch.allclose(euclidean_distance(h, g), ((h - g) ** 2).sum())


def test_layer_weights_drop_a_layer():
    model = TinyConv()
    params, _ = split_state(model)
    names = list(params)
    w = element_weights(names, [params[n].shape for n in names], {"fc.weight": 0.0, "fc.bias": 0.0}, "cpu")
    a = flatten({n: torch.randn_like(p) for n, p in params.items()}, names)
    b = a.clone()
    b[-(4 * 8 * 8 * 5 + 5):] = torch.randn(4 * 8 * 8 * 5 + 5)  # differ only in the fc layer
    assert cosine_distance(b, a, w).abs() < 1e-6
    assert cosine_distance(b, a) > 1e-3
    with pytest.raises(LeaklibError, match="not parameters"):
        element_weights(names, [params[n].shape for n in names], {"nope": 1.0}, "cpu")


@pytest.mark.parametrize("objective,weighted", [("cosine", False), ("cosine", True), ("euclidean", False),
                                                ("euclidean", True)])
def test_closed_form_distance_gradient_matches_autograd(objective, weighted):
    gen = torch.Generator().manual_seed(0)
    g, t = torch.randn(3, 50, generator=gen, dtype=torch.float64), torch.randn(50, generator=gen, dtype=torch.float64)
    w = torch.rand(50, generator=gen, dtype=torch.float64) if weighted else None
    value, direction, scale = distance_and_grad(objective, g, MatchTarget.of(t, w))
    fn = cosine_distance if objective == "cosine" else euclidean_distance
    gr = g.clone().requires_grad_(True)
    expected = torch.stack([fn(row, t, w) for row in gr])
    (grad,) = torch.autograd.grad(expected.sum(), gr)
    assert torch.allclose(value, expected.detach())
    assert torch.allclose(scale[:, None] * direction, grad)
