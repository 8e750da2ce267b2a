"""Simulated federated clients (FedSGD, FedAvg, several rounds), the server's side, and what it observes."""

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
from .rounds import VARY, local_updates
from .server import SERVERS, flip_labels, gradient_norm, server_model, shift_gradient_cosine

__all__ = [
    "BN_MODES", "SETTINGS", "FedAvg", "FedSGD", "Observation", "Params", "as_observations", "batch_loss", "bn_mode",
    "check_batch", "check_observation", "fedavg_update", "fedsgd_update", "local_sgd", "minibatch_schedule",
    "num_local_steps", "parameter_gradient", "parameter_gradient_graph", "split_state",
    "SERVERS", "VARY", "flip_labels", "gradient_norm", "local_updates", "server_model", "shift_gradient_cosine",
]
