"""What the attacker simulates for each observation kind (attack/fedavg.py)."""

from __future__ import annotations

from attack_helpers import TinyConv, batch

from leaklib.attack import cosine_distance
from leaklib.attack.fedavg import observed_target, simulate
from leaklib.fl import FedSGD, fedavg_update, fedsgd_update, split_state


def test_loss_at_the_true_images_is_zero_for_every_observation_kind():
    """The simulated observation of the true batch equals the observed one (FedSGD, both FedAvg modes)."""
    model = TinyConv()
    x, y = batch(4)
    params, buffers = split_state(model)
    names = list(params)
    observations = [fedsgd_update(model, x, y), fedavg_update(model, x, y, epochs=2, batch_size=2, lr=0.1,
                                                                shuffle_seed=5)]
    for obs in observations:
        for mode in ("unroll", "pseudo"):
            target = observed_target(obs, mode, names)
            sim = simulate(obs, mode, model, params, buffers, x, y, names)
            exact = isinstance(obs, FedSGD) or mode == "unroll"
            assert (cosine_distance(sim, target) < 1e-5) == exact, (type(obs).__name__, mode)
