"""What the honest-but-curious server observes from one client (docs/PAPERS_NOTES.md, threat model).

The attack and the label rules take these types, never loose tensors. Parameter tensors are kept
in a dict keyed by the model's parameter names, in ``model.named_parameters()`` order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import LeaklibError

Params = dict[str, Tensor]


@dataclass(frozen=True)
class FedSGD:
    """FedSGD: the gradient of the mean loss over the client's batch of ``num_images`` images."""

    gradient: Params
    num_images: int
    weights: Params | None = None  # the global weights it was computed at; None: the attacked model's weights

    @property
    def tensors(self) -> Params:
        return self.gradient


@dataclass(frozen=True)
class FedAvg:
    """FedAvg: the weight update ``w_T - w_0`` after ``epochs`` local epochs of mini-batch SGD.

    The server knows the local hyper-parameters (epochs, batch size, learning rate, the number of
    images and how the client orders its mini-batches: ``shuffle_seed`` None means in batch order).
    ``weights`` are the global weights the client started from, when they differ from the attacked
    model's (updates from several rounds, Geng et al. RQ3); None means the model's current weights.
    """

    update: Params
    epochs: int
    batch_size: int
    lr: float
    num_images: int
    shuffle_seed: int | None = None
    weights: Params | None = None

    @property
    def tensors(self) -> Params:
        return self.update

    @property
    def steps(self) -> int:
        """Local SGD steps: ``epochs * ceil(num_images / batch_size)``."""
        return num_local_steps(self.num_images, self.batch_size, self.epochs)

    def pseudo_gradient(self) -> Params:
        """Geng et al.'s ``(w_0 - w_T) / (lr * steps)``: the mean gradient over the local steps."""
        scale = 1.0 / (self.lr * self.steps)
        return {k: -u * scale for k, u in self.update.items()}


Observation = FedSGD | FedAvg
SETTINGS = ("fedsgd", "fedavg")  # the federated settings by name: what a client shares, FedSGD or FedAvg


def num_local_steps(num_images: int, batch_size: int, epochs: int) -> int:
    """``epochs * ceil(n / B)``, the number of local SGD steps of a FedAvg client."""
    return epochs * math.ceil(num_images / batch_size)


def as_observations(obs: Observation | Sequence[Observation]) -> list[Observation]:
    """One observation or several of the same batch (e.g. successive rounds) as a list."""
    if isinstance(obs, (FedSGD, FedAvg)):
        return [obs]
    obs = list(obs)
    if not obs or not all(isinstance(o, (FedSGD, FedAvg)) for o in obs):
        raise LeaklibError("an observation must be a FedSGD, a FedAvg or a non-empty list of them")
    if len({o.num_images for o in obs}) != 1:
        raise LeaklibError(f"observations of one batch must agree on num_images, got {[o.num_images for o in obs]}")
    return obs


def _check_weights(kind: str, weights: Params, expected: dict[str, Tensor]) -> None:
    """An observation's own global weights must be a full, finite set of the model's parameters."""
    if not isinstance(weights, dict) or set(weights) != set(expected):
        names = sorted(set(weights) ^ set(expected)) if isinstance(weights, dict) else type(weights).__name__
        raise LeaklibError(f"{kind} observation weights must name exactly the model's trainable parameters; "
                           f"differ on {names if isinstance(names, str) else names[:3]}")
    for name, p in expected.items():
        w = weights[name]
        if not isinstance(w, Tensor) or w.shape != p.shape or not w.is_floating_point():
            raise LeaklibError(f"{kind} observation weights entry {name!r} must be a float tensor of shape "
                               f"{tuple(p.shape)}, got {getattr(w, 'shape', type(w).__name__)}")
        if not torch.isfinite(w).all():
            raise LeaklibError(f"{kind} observation weights entry {name!r} contains NaN or Inf")


def check_observation(model: nn.Module, obs: Observation) -> None:
    """Fail fast when ``obs`` cannot have come from ``model``: names, shapes, dtype, NaN/Inf, all zero."""
    expected = {n: p for n, p in model.named_parameters() if p.requires_grad}
    got = obs.tensors
    kind = type(obs).__name__
    if len(got) != len(expected):
        raise LeaklibError(
            f"{kind} observation has {len(got)} tensors but the model has {len(expected)} trainable parameters"
        )
    missing = [n for n in expected if n not in got]
    if missing:
        raise LeaklibError(f"{kind} observation lacks the model's parameters {missing[:3]} (and is for another model?)")
    for name, p in expected.items():
        t = got[name]
        if not isinstance(t, Tensor):
            raise LeaklibError(f"{kind} observation entry {name!r} is a {type(t).__name__}, expected a tensor")
        if t.shape != p.shape:
            raise LeaklibError(
                f"{kind} observation entry {name!r} has shape {tuple(t.shape)}, the model's parameter has {tuple(p.shape)}"
            )
        if not t.is_floating_point():
            raise LeaklibError(f"{kind} observation entry {name!r} has dtype {t.dtype}, expected a floating dtype")
        if not torch.isfinite(t).all():
            raise LeaklibError(f"{kind} observation entry {name!r} contains NaN or Inf")
    if obs.weights is not None:
        _check_weights(kind, obs.weights, expected)
    if all(not t.any() for t in got.values()):
        raise LeaklibError(f"{kind} observation is all zero: nothing can be recovered from it")
    if obs.num_images <= 0:
        raise LeaklibError(f"{kind} observation has num_images={obs.num_images}, expected > 0")
    if isinstance(obs, FedAvg):
        if obs.epochs <= 0 or obs.batch_size <= 0 or not obs.lr > 0:
            raise LeaklibError(
                f"FedAvg needs epochs > 0, batch_size > 0 and lr > 0, got {obs.epochs}, {obs.batch_size}, {obs.lr}"
            )
