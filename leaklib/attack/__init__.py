"""Gradient inversion: reconstruct a client's images from what the server observed.

Inverting Gradients (Geiping et al. 2020) and DLG (Zhu et al. 2019) as one engine: :func:`invert` takes
the model, an observation (FedSGD, FedAvg or a list), labels (known/recovered or ``"joint"``) and an
:class:`AttackConfig`; it returns an :class:`AttackResult`. Inside, :func:`prepare` builds the
:class:`AttackProblem`, :func:`objective_and_grad` is one iteration's objective and gradient, and
:func:`plain_inverting_gradients` is the recipe in plain autograd that the engine is tested against.
:func:`recover_linear_input` is the closed form of Prop. 3.1 for fully connected layers.
"""

from .analytic import first_linear, recover_linear_input
from .config import FEDAVG_MODES, INITS, LR_SCHEDULES, METHODS, OBJECTIVES, OPTIMIZERS, AttackConfig
from .inits import init_images, restart_seed
from .loop import invert, objective_and_grad
from .objectives import cosine_distance, euclidean_distance
from .priors import BatchNormStats, box_distance, l2_norm, total_variation
from .problem import AttackProblem, pixel_box, prepare
from .reference import plain_inverting_gradients
from .result import AttackResult

__all__ = [
    "FEDAVG_MODES", "INITS", "LR_SCHEDULES", "METHODS", "OBJECTIVES", "OPTIMIZERS", "AttackConfig", "AttackProblem",
    "AttackResult", "BatchNormStats", "box_distance", "cosine_distance", "euclidean_distance", "first_linear",
    "init_images", "invert", "l2_norm", "objective_and_grad", "pixel_box", "plain_inverting_gradients", "prepare",
    "recover_linear_input", "restart_seed", "total_variation",
]
