"""Several updates of the same batch (Geng et al. 2021, RQ3: a client that trains on one batch more than once).

:func:`local_updates` gives ``count`` FedAvg updates of one batch: at successive global models
(``vary="rounds"``: the server applies update i to get the weights of update i+1, and each observation
carries its own weights), or at one global model with a different local learning rate (``vary="lr"``: update
i uses ``lr * (i + 1)``) or mini-batch order (``vary="shuffle"``: shuffle seed i). The server knows each
update's local hyper-parameters, so the attack replays each one exactly.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from ..errors import LeaklibError, check_choice, check_positive
from .client import fedavg_update
from .observation import FedAvg

VARY = ("rounds", "lr", "shuffle")


def local_updates(model: nn.Module, images: Tensor, labels: Tensor, count: int, *, vary: str = "rounds",
                  epochs: int = 1, batch_size: int | None = None, lr: float = 0.01, bn: str = "eval") -> list[FedAvg]:
    """``count`` FedAvg updates of one batch (see the module docstring for ``vary``).

    At one global model the updates differ only when local SGD takes more than one step, so ``lr`` and
    ``shuffle`` need ``batch_size`` below the number of images.
    """
    check_choice("vary", vary, VARY)
    check_positive("count", count)
    if vary == "rounds":
        server = copy.deepcopy(model)  # the global model, moved by each round's update
        observations = []
        for _ in range(count):
            obs = fedavg_update(server, images, labels, epochs=epochs, batch_size=batch_size, lr=lr, bn=bn,
                                keep_weights=True)
            observations.append(obs)
            with torch.no_grad():
                for name, p in server.named_parameters():
                    p.add_(obs.update[name])
        return observations
    if (batch_size is None or batch_size >= images.shape[0]) and count > 1:
        raise LeaklibError(f"batch_size={batch_size} covers all {images.shape[0]} images in one local step: the "
                           "updates carry the same gradient; use a smaller local batch")
    return [fedavg_update(model, images, labels, epochs=epochs, batch_size=batch_size,
                          lr=lr * (i + 1) if vary == "lr" else lr, shuffle_seed=i if vary == "shuffle" else None,
                          bn=bn) for i in range(count)]
