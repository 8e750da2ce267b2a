"""Simulated federated clients (FedSGD, FedAvg) and what the server observes from them."""

from .client import (
    BN_MODES,
    batch_loss,
    bn_mode,
    check_batch,
    fedavg_update,
    fedsgd_update,
    local_sgd,
    minibatch_schedule,
    parameter_gradient,
    parameter_gradient_graph,
    split_state,
)
from .observation import (
    SETTINGS,
    FedAvg,
    FedSGD,
    Observation,
    Params,
    as_observations,
    check_observation,
    num_local_steps,
)

__all__ = [
    "BN_MODES", "SETTINGS", "FedAvg", "FedSGD", "Observation", "Params", "as_observations", "batch_loss", "bn_mode",
    "check_batch", "check_observation", "fedavg_update", "fedsgd_update", "local_sgd", "minibatch_schedule",
    "num_local_steps", "parameter_gradient", "parameter_gradient_graph", "split_state",
]
