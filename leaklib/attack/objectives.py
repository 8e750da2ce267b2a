"""Gradient-matching objectives on flattened, concatenated gradients.

Each observation's tensors are flattened and concatenated once into one vector, in the model's
parameter order, so that the objective is one fused reduction rather than a Python loop over layers.
Per-layer weights become one per-element weight vector of the same length.

The attack takes the distance's gradient in the simulated update ``g`` in closed form
(:func:`distance_and_grad`) as ``dd/dg = scale * direction``: the direction takes one pass over the D
entries and is back-propagated into the images in one pass (``grad_outputs``); the caller applies the
per-restart scale to the (much smaller) image gradient, instead of autograd building nodes for products
and sums over the D parameters. With ``A = <g, w t>``, ``G = |g|_w``, ``T = |t|_w``:

- cosine: ``d = 1 - A / (G T)``, ``dd/dg = (1 / G) * (A / (G^2 T) * w g - w t / T)`` (scale ``1 / G``);
- euclidean: ``d = <g - t, w (g - t)>``, ``dd/dg = 2 w (g - t)`` (scale 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import LeaklibError

EPS = 1e-12


def flatten(tensors: Mapping[str, Tensor], names: list[str]) -> Tensor:
    """Concatenate ``tensors[n]`` for ``n`` in ``names`` into one flat vector."""
    return torch.cat([tensors[n].reshape(-1) for n in names])


def element_weights(names: list[str], shapes: list[torch.Size], layer_weights: Mapping[str, float] | None,
                    device: torch.device) -> Tensor | None:
    """Per-element weights for the flattened gradient from per-layer weights (None: all layers weigh 1)."""
    if layer_weights is None:
        return None
    unknown = sorted(set(layer_weights) - set(names))
    if unknown:
        raise LeaklibError(f"layer_weights names {unknown[:3]} are not parameters of the model; valid: {names[:5]}...")
    parts = [torch.full((s.numel(),), float(layer_weights.get(n, 1.0))) for n, s in zip(names, shapes)]
    return torch.cat(parts).to(device)


def cosine_distance(g: Tensor, target: Tensor, weights: Tensor | None = None) -> Tensor:
    """Inverting Gradients eq. (4): ``1 - <g, g*> / (|g| |g*|)`` over all layers (weighted inner products).

    Written with dot products (one fused reduction each, also under ``vmap``), not element-wise products.
    """
    tw = target if weights is None else target * weights
    gw = g if weights is None else g * weights
    return 1 - (g @ tw) / ((g @ gw).sqrt() * (target @ tw).sqrt() + EPS)


def euclidean_distance(g: Tensor, target: Tensor, weights: Tensor | None = None) -> Tensor:
    """DLG (Zhu et al. 2019): squared Euclidean distance ``|g - g*|^2`` summed over all layers."""
    diff = g - target
    return diff @ diff if weights is None else (diff * weights) @ diff


def target_norm(target: Tensor, weights: Tensor | None = None) -> Tensor:
    """``|t|_w``, the target's (weighted) norm: constant during an attack, so computed once."""
    return (target @ (target if weights is None else target * weights)).sqrt()


@dataclass(frozen=True)
class MatchTarget:
    """One observation's flat target with the parts of the distance that do not change during an attack."""

    vector: Tensor  # t
    weights: Tensor | None  # per-element weights w (None: all 1)
    weighted: Tensor  # w t
    norm: Tensor  # |t|_w
    neg_unit: Tensor  # -w t / |t|_w, the constant part of the cosine distance's gradient

    @classmethod
    def of(cls, target: Tensor, weights: Tensor | None = None) -> MatchTarget:
        weighted = target if weights is None else target * weights
        norm = target_norm(target, weights)
        return cls(target, weights, weighted, norm, -weighted / norm.clamp_min(EPS))


def distance_and_grad(objective: str, g: Tensor, target: MatchTarget) -> tuple[Tensor, Tensor, Tensor]:
    """Per-restart distance of ``g`` (R, D) to the target and its gradient in ``g``, in closed form.

    Returns ``(value, direction, scale)`` with ``dd/dg = scale[:, None] * direction``; cosine:
    ``dd/dg = (1 / G) * (A / (G^2 T) * w g - w t / T)`` (derivation in the module docstring).
    """
    g = g.detach()
    w = target.weights
    if objective == "euclidean":
        diff = g - target.vector
        wdiff = diff if w is None else diff * w
        return (wdiff * diff).sum(dim=1), 2 * wdiff, torch.ones(g.shape[0], device=g.device, dtype=g.dtype)
    gw = g if w is None else g * w
    a = g @ target.weighted
    gnorm = (torch.linalg.vector_norm(g, dim=1) if w is None else torch.linalg.vecdot(gw, g).sqrt()).clamp_min(EPS)
    tnorm = target.norm.clamp_min(EPS)
    value = 1 - a / (gnorm * tnorm)
    direction = torch.addcmul(target.neg_unit, gw, (a / (gnorm * gnorm * tnorm))[:, None])
    return value, direction, 1 / gnorm
