"""Gradient inversion: reconstruct a client's images from what the server observed.

Inverting Gradients (Geiping et al. 2020) and DLG (Zhu et al. 2019) as one engine: :func:`invert` takes
the model, an observation (FedSGD, FedAvg or a list), labels (known/recovered or ``"joint"``) and an
:class:`AttackConfig`; it returns an :class:`AttackResult`. :func:`recover_linear_input` is the closed
form of Prop. 3.1 for fully connected layers.
"""

from .analytic import first_linear, recover_linear_input
from .config import FEDAVG_MODES, INITS, LR_SCHEDULES, METHODS, OBJECTIVES, OPTIMIZERS, AttackConfig
from .inits import init_images, restart_seed
from .loop import invert, pixel_box
from .objectives import cosine_distance, euclidean_distance
from .priors import BatchNormStats, box_distance, l2_norm, total_variation
from .result import AttackResult

__all__ = [
    "FEDAVG_MODES", "INITS", "LR_SCHEDULES", "METHODS", "OBJECTIVES", "OPTIMIZERS", "AttackConfig", "AttackResult",
    "BatchNormStats", "box_distance", "cosine_distance", "euclidean_distance", "first_linear", "init_images",
    "invert", "l2_norm", "pixel_box", "recover_linear_input", "restart_seed", "total_variation",
]
