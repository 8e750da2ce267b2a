"""What the attacker simulates for each observation kind (attack/fedavg.py)."""

from __future__ import annotations

import pytest
import torch
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


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fedavg_attack_on_cuda_matches_cpu():
    """The differentiable unroll of local steps runs on the GPU and follows the same path as on the CPU."""
    from leaklib.attack import AttackConfig, invert

    model = TinyConv()
    x, y = batch(2)
    obs = fedavg_update(model, x, y, epochs=2, batch_size=1, lr=0.1, shuffle_seed=5)
    cfg = AttackConfig.preset("ig-fast", iterations=5, restarts=2).replace(fedavg="unroll")
    cpu = invert(model, obs, y, cfg, image_shape=x.shape[1:], progress=False, device="cpu")
    gpu = invert(model, obs, y, cfg, image_shape=x.shape[1:], progress=False, device="cuda")
    assert gpu.device.startswith("cuda") and torch.allclose(cpu.images, gpu.images, atol=1e-3)
