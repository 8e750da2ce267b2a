"""What the attacker simulates for each observation, on the dummy batch (one restart).

- FedSGD: the parameter gradient of the mean loss at the global weights (Inverting Gradients, eq. 4).
- FedAvg, ``unroll``: replay the client's E*ceil(n/B) local SGD steps differentiably with
  :func:`leaklib.fl.local_sgd` and compare the weight update ``w_T - w_0`` (Inverting Gradients, Sec. 5).
- FedAvg, ``pseudo``: compare the FedSGD gradient of the dummy batch to Geng et al.'s pseudo-gradient
  ``(w_0 - w_T) / (lr * steps)`` (FedAvg.pseudo_gradient()), the mean gradient over the local steps.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from ..fl import FedAvg, FedSGD, Observation, Params, local_sgd, parameter_gradient
from .objectives import flatten


def observed_target(obs: Observation, fedavg_mode: str, names: list[str]) -> Tensor:
    """The flat vector the simulation is matched to: gradient, weight update or pseudo-gradient."""
    if isinstance(obs, FedAvg) and fedavg_mode == "pseudo":
        return flatten(obs.pseudo_gradient(), names)
    return flatten(obs.tensors, names)


def simulate(obs: Observation, fedavg_mode: str, model: nn.Module, params: Params, buffers: Params,
             images: Tensor, labels: Tensor, names: list[str],
             gradient: Callable[..., Params] = parameter_gradient) -> Tensor:
    """The dummy batch's counterpart of ``obs`` as a flat vector, differentiable in ``images`` and ``labels``.

    ``gradient`` computes a FedSGD gradient: :func:`~leaklib.fl.parameter_gradient` (composable with
    ``vmap``) or, outside ``vmap``, the faster :func:`~leaklib.fl.parameter_gradient_graph`.
    """
    if isinstance(obs, FedSGD) or fedavg_mode == "pseudo":
        return flatten(gradient(model, params, buffers, images, labels), names)
    final = local_sgd(model, params, buffers, images, labels, epochs=obs.epochs, batch_size=obs.batch_size,
                      lr=obs.lr, shuffle_seed=obs.shuffle_seed)
    return flatten({n: final[n] - params[n] for n in names}, names)
