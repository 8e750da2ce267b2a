"""The attack loop on tiny models: restarts, observations, batch norm, progress (attack/loop.py)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from attack_helpers import SHAPE, TinyConv, TinyMLP, batch, quick

from leaklib.attack import AttackResult, init_images, invert
from leaklib.errors import LeaklibError
from leaklib.fl import FedAvg, FedSGD, fedavg_update, fedsgd_update


def test_attack_recovers_an_image_through_a_linear_first_layer():
    model = TinyMLP()
    x, y = batch(1, seed=3)
    obs = fedsgd_update(model, x, y)
    res = invert(model, obs, y, quick(iterations=150, tv=0.0, init="uniform"), image_shape=SHAPE, seed=0,
                 progress=False, normalization=type("N", (), {"mean": (0.5,) * 3, "std": (0.5,) * 3})())
    start = init_images("uniform", (1, *SHAPE), torch.Generator().manual_seed(0), lower=-torch.ones(3),
                        upper=torch.ones(3))
    assert ((res.images - x) ** 2).mean() < 0.1 * ((start - x) ** 2).mean()
    assert res.loss < 1e-2 and res.loss_history[0][-1] < res.loss_history[0][0]


@pytest.mark.parametrize("optimizer, labels", [("signed-adam", "known"), ("adam", "joint"), ("lbfgs", "joint")])
def test_batched_restarts_equal_sequential_runs(optimizer, labels):
    model = TinyConv()
    x, y = batch(2)
    obs = fedsgd_update(model, x, y)
    lab = y if labels == "known" else "joint"
    cfg = quick(restarts=3, optimizer=optimizer, lr=0.05 if optimizer != "lbfgs" else 0.5, iterations=10)
    together = invert(model, obs, lab, cfg, image_shape=SHAPE, seed=7, progress=False, device="cpu")
    assert together.seeds == [7000, 7001, 7002]
    assert len(set(together.restart_losses)) == 3  # restarts differ
    for r, s in enumerate(together.seeds):
        alone = invert(model, obs, lab, cfg.replace(restarts=1), image_shape=SHAPE, seed=7, restart_seeds=[s],
                       progress=False, device="cpu")
        assert alone.restart_losses[0] == pytest.approx(together.restart_losses[r], rel=1e-4, abs=1e-6)
        assert torch.allclose(torch.tensor(alone.loss_history[0]), torch.tensor(together.loss_history[r]),
                              rtol=1e-4, atol=1e-6)
        if r == together.best_restart:
            assert torch.allclose(alone.images, together.images, atol=1e-4)


def test_unbatched_restarts_equal_single_runs_exactly():
    model = TinyConv()
    x, y = batch(2)
    obs = fedsgd_update(model, x, y)
    cfg = quick(restarts=2, batched=False, bn_mode="train", iterations=6)
    together = invert(model, obs, y, cfg, image_shape=SHAPE, seed=2, progress=False)
    for r, s in enumerate(together.seeds):
        alone = invert(model, obs, y, cfg.replace(restarts=1), image_shape=SHAPE, restart_seeds=[s], progress=False)
        assert alone.loss_history[0] == together.loss_history[r]


def test_same_seed_same_numbers_and_json_round_trip(tmp_path):
    model = TinyConv()
    x, y = batch(2)
    obs = fedsgd_update(model, x, y)
    a = invert(model, obs, y, quick(restarts=2), image_shape=SHAPE, seed=1, progress=False)
    b = invert(model, obs, y, quick(restarts=2), image_shape=SHAPE, seed=1, progress=False)
    assert torch.equal(a.images, b.images) and a.loss_history == b.loss_history
    assert a.restart_losses[a.best_restart] == min(a.restart_losses)
    text = json.dumps(a.to_dict())
    back = AttackResult.from_dict(json.loads(text))
    assert torch.equal(back.images, a.images) and back.config == a.config and back.loss == a.loss


@pytest.mark.parametrize("fedavg", ["unroll", "pseudo"])
def test_fedavg_and_several_observations_run(fedavg):
    model = TinyConv()
    x, y = batch(2)
    observations = [fedavg_update(model, x, y, epochs=2, batch_size=1, lr=0.05), fedsgd_update(model, x, y)]
    res = invert(model, observations, y, quick(fedavg=fedavg, iterations=5), image_shape=SHAPE, progress=False)
    assert res.images.shape == (2, *SHAPE) and not any(math.isnan(v) for v in res.restart_losses)
    assert isinstance(observations[0], FedAvg)


def test_train_mode_batch_norm_and_bn_prior():
    model = TinyConv()
    x, y = batch(2)
    obs = fedsgd_update(model, x, y, bn="train")
    running = model.bn.running_mean.clone()
    res = invert(model, obs, y, quick(bn_mode="train", bn_prior=1e-2, restarts=2, iterations=4),
                 image_shape=SHAPE, progress=False)
    assert torch.equal(model.bn.running_mean, running) and not model.training
    assert not any(math.isnan(v) for v in res.restart_losses)
    with pytest.raises(LeaklibError, match="batch-norm layers"):
        invert(TinyMLP(), fedsgd_update(TinyMLP(), x, y), y, quick(bn_prior=1.0), image_shape=SHAPE,
               progress=False)


def test_progress_bar_shows_the_loss(capsys):
    model = TinyConv()
    x, y = batch(1)
    invert(model, fedsgd_update(model, x, y), y, quick(iterations=10), image_shape=SHAPE, progress=True)
    err = capsys.readouterr().err
    assert "attack" in err and "loss=" in err


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    model = TinyConv()
    x, y = batch(2)
    obs = fedsgd_update(model, x, y)
    cfg = quick(restarts=2, optimizer="adam", lr=0.01, iterations=5)
    cpu = invert(model, obs, y, cfg, image_shape=SHAPE, progress=False, device="cpu")
    gpu = invert(model, obs, y, cfg, image_shape=SHAPE, progress=False, device="cuda")
    assert gpu.device.startswith("cuda") and gpu.images.device.type == "cpu"
    assert torch.allclose(cpu.images, gpu.images, atol=1e-3)


def test_observations_carry_their_own_global_weights():
    """An observation made at other weights is simulated there: attacking it equals attacking a model that
    holds those weights, and a list of rounds at successive weights runs."""
    from leaklib.fl import local_updates

    model, moved = TinyConv(seed=0), TinyConv(seed=0)
    with torch.no_grad():  # other weights, same batch-norm statistics (observations carry parameters only)
        for p in moved.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x, y = batch(2)
    plain = fedavg_update(moved, x, y, epochs=1, batch_size=1, lr=0.1)
    carried = fedavg_update(moved, x, y, epochs=1, batch_size=1, lr=0.1, keep_weights=True)
    assert plain.weights is None and set(carried.weights) == set(plain.update)
    run = dict(image_shape=SHAPE, seed=4, progress=False)
    there = invert(moved, plain, y, quick(), **run)
    here = invert(model, carried, y, quick(), **run)
    assert here.loss_history == there.loss_history and torch.equal(here.images, there.images)
    rounds = local_updates(model, x, y, 3, vary="rounds", batch_size=1, lr=0.1)
    assert not torch.equal(rounds[1].weights["fc.weight"], rounds[0].weights["fc.weight"])
    torch.testing.assert_close(rounds[1].weights["fc.weight"], rounds[0].weights["fc.weight"] +
                               rounds[0].update["fc.weight"])
    assert invert(model, rounds, y, quick(iterations=3), **run).iterations == 3
    bad = {**carried.weights, "fc.weight": carried.weights["fc.weight"][:1]}
    with pytest.raises(LeaklibError, match="weights entry 'fc.weight'"):
        invert(model, FedSGD(gradient=fedsgd_update(model, x, y).gradient, num_images=2, weights=bad), y, quick(), **run)
    nan = {**carried.weights, "fc.bias": torch.full((5,), float("nan"))}
    with pytest.raises(LeaklibError, match="NaN"):
        invert(model, FedSGD(gradient=fedsgd_update(model, x, y).gradient, num_images=2, weights=nan), y, quick(), **run)
