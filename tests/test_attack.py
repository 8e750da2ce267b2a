"""Tests of the gradient-inversion engine on tiny models (seconds each)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from leaklib.attack import (
    AttackConfig,
    AttackResult,
    BatchNormStats,
    box_distance,
    cosine_distance,
    euclidean_distance,
    init_images,
    invert,
    pixel_box,
    restart_seed,
    total_variation,
)
from leaklib.attack.fedavg import observed_target, simulate
from leaklib.attack.objectives import MatchTarget, distance_and_grad, element_weights, flatten
from leaklib.attack.pyramid import project, start_levels, synthesize
from leaklib.errors import LeaklibError
from leaklib.fl import FedAvg, FedSGD, fedavg_update, fedsgd_update, split_state

SHAPE = (3, 8, 8)


class TinyConv(nn.Module):
    """conv-BN-ReLU-linear, 5 classes, on 3x8x8 images."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 8 * 8, 5)
        self.num_classes = 5
        with torch.no_grad():  # non-trivial running statistics
            self.bn.running_mean.uniform_(-0.2, 0.2)
            self.bn.running_var.uniform_(0.5, 1.5)
        self.eval()

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


class TinyMLP(nn.Module):
    """Linear (with bias) first, then sigmoid and a linear head: Prop. 3.1 applies to the first layer."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.fc1 = nn.Linear(3 * 8 * 8, 32)
        self.fc2 = nn.Linear(32, 5)
        self.num_classes = 5

    def forward(self, x):
        return self.fc2(torch.sigmoid(self.fc1(x.flatten(1))))


def batch(n: int = 2, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, *SHAPE), generator=g) * 2 - 1, torch.randint(0, 5, (n,), generator=g)


def quick(**kw) -> AttackConfig:
    base = {"iterations": 12, "restarts": 1}
    base.update(kw)
    return AttackConfig(**base)


# ---------------------------------------------------------------- objectives and priors

def test_cosine_distance_values_and_scale_invariance():
    g = torch.randn(50)
    assert cosine_distance(g, g).abs() < 1e-6
    assert (cosine_distance(-g, g) - 2).abs() < 1e-6
    h = torch.randn(50)
    assert torch.allclose(cosine_distance(3.0 * h, g), cosine_distance(h, g), atol=1e-6)
    assert torch.allclose(euclidean_distance(h, g), ((h - g) ** 2).sum())


def test_layer_weights_drop_a_layer():
    model = TinyConv()
    params, _ = split_state(model)
    names = list(params)
    w = element_weights(names, [params[n].shape for n in names], {"fc.weight": 0.0, "fc.bias": 0.0}, "cpu")
    a = flatten({n: torch.randn_like(p) for n, p in params.items()}, names)
    b = a.clone()
    b[-(4 * 8 * 8 * 5 + 5):] = torch.randn(4 * 8 * 8 * 5 + 5)  # differ only in the fc layer
    assert cosine_distance(b, a, w).abs() < 1e-6
    assert cosine_distance(b, a) > 1e-3
    with pytest.raises(LeaklibError, match="not parameters"):
        element_weights(names, [params[n].shape for n in names], {"nope": 1.0}, "cpu")


@pytest.mark.parametrize("objective,weighted", [("cosine", False), ("cosine", True), ("euclidean", False),
                                                ("euclidean", True)])
def test_closed_form_distance_gradient_matches_autograd(objective, weighted):
    gen = torch.Generator().manual_seed(0)
    g, t = torch.randn(3, 50, generator=gen, dtype=torch.float64), torch.randn(50, generator=gen, dtype=torch.float64)
    w = torch.rand(50, generator=gen, dtype=torch.float64) if weighted else None
    value, direction, scale = distance_and_grad(objective, g, MatchTarget.of(t, w))
    fn = cosine_distance if objective == "cosine" else euclidean_distance
    gr = g.clone().requires_grad_(True)
    expected = torch.stack([fn(row, t, w) for row in gr])
    (grad,) = torch.autograd.grad(expected.sum(), gr)
    assert torch.allclose(value, expected.detach())
    assert torch.allclose(scale[:, None] * direction, grad)


def test_pyramid_levels_synthesis_and_projection():
    images = torch.randn(2, 1, 3, 7, 8)
    levels = start_levels(images, 3)
    assert [tuple(v.shape[-2:]) for v in levels] == [(7, 8), (4, 4), (2, 2)]
    assert torch.equal(synthesize(levels), images)  # coarse levels start at zero
    levels[2] = torch.ones_like(levels[2])  # a constant coarse level adds a constant
    assert torch.allclose(synthesize(levels), images + 1)
    lower, upper = pixel_box(None, 3)
    boxed = project(levels, lower, upper)
    out = synthesize(boxed)
    assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6
    assert torch.equal(boxed[2], levels[2])  # the correction goes into the finest level
    assert torch.allclose(out, synthesize(levels).clamp(0, 1), atol=1e-6)


def test_pyramid_attack_returns_boxed_images_and_lowers_the_loss():
    model = TinyConv()
    x, y = batch(2)
    obs = fedsgd_update(model, x, y)
    cfg = quick(iterations=30, scales=3, tv=1e-3)
    result = invert(model, obs, y, cfg, image_shape=SHAPE, progress=False)
    assert result.images.shape == x.shape and result.images.min() >= -1e-6 and result.images.max() <= 1 + 1e-6
    assert result.loss_history[0][-1] < result.loss_history[0][0]
    with pytest.raises(LeaklibError, match="scales"):
        cfg.replace(scales=0)


def test_total_variation_matches_definition():
    x = torch.tensor([[[[0.0, 1.0], [3.0, 3.0]]]])
    # vertical |3-0|, |3-1| -> mean 2.5; horizontal |1-0|, |3-3| -> mean 0.5
    assert torch.isclose(total_variation(x), torch.tensor(3.0))
    assert total_variation(torch.ones(2, 3, 5, 5)) == 0


def test_box_distance_and_pixel_box():
    class Norm:
        mean, std = (0.5, 0.5, 0.5), (0.25, 0.5, 1.0)

    lo, hi = pixel_box(Norm(), 3)
    assert torch.allclose(lo.flatten(), torch.tensor([-2.0, -1.0, -0.5]))
    assert torch.allclose(hi.flatten(), torch.tensor([2.0, 1.0, 0.5]))
    inside = (lo + hi) / 2 * torch.ones(1, 3, 4, 4)
    assert box_distance(inside, lo, hi) == 0
    assert box_distance(inside + 10, lo, hi) > 0


def test_bn_statistics_penalty_matches_manual():
    model = TinyConv()
    params, buffers = split_state(model)
    x, _ = batch(3)
    with BatchNormStats(model) as stats:
        stats.recording = True
        model(x)
        penalty = stats.penalty(buffers)
    h = model.conv(x)
    mean, var = h.mean((0, 2, 3)), h.var((0, 2, 3), unbiased=False)
    manual = (mean - model.bn.running_mean).norm() + (var - model.bn.running_var).norm()
    assert torch.allclose(penalty, manual, atol=1e-5)


def test_inits_shapes_box_and_patch_tiling():
    lo, hi = torch.tensor([-1.0, 0.0, 2.0]), torch.tensor([1.0, 0.5, 3.0])
    for kind in ("normal", "uniform", "patch"):
        a = init_images(kind, (2, 3, 8, 8), torch.Generator().manual_seed(4), lower=lo, upper=hi)
        b = init_images(kind, (2, 3, 8, 8), torch.Generator().manual_seed(4), lower=lo, upper=hi)
        assert a.shape == (2, 3, 8, 8) and torch.equal(a, b)
        if kind != "normal":
            assert (a >= lo.view(3, 1, 1)).all() and (a <= hi.view(3, 1, 1)).all()
    p = init_images("patch", (1, 3, 8, 8), torch.Generator().manual_seed(0), patch_size=4)
    assert torch.equal(p[..., :4, :4], p[..., 4:, 4:]) and not torch.equal(p[..., :2, :2], p[..., 2:4, 2:4])
    assert restart_seed(3, 2) == 3002


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize(
    "changes, message",
    [
        ({"iterations": 0}, "iterations"),
        ({"restarts": 0}, "restarts"),
        ({"tv": -1e-4}, "tv weight"),
        ({"objective": "l1"}, "valid objectives: cosine, euclidean"),
        ({"optimizer": "sgd"}, "valid optimizers: signed-adam, adam, lbfgs"),
        ({"init": "zeros"}, "valid inits: normal, uniform, patch"),
        ({"fedavg": "x"}, "unroll, pseudo"),
        ({"lr_schedule": "linear"}, "valid lr_schedules: step, cosine"),
    ],
)
def test_config_rejects_bad_settings(changes, message):
    with pytest.raises(LeaklibError, match=message):
        AttackConfig(**changes)


def test_learning_rate_schedules():
    step = AttackConfig(lr=0.1, iterations=8, lr_milestones=(0.5, 0.75))
    assert [round(step.learning_rate(i), 6) for i in range(8)] == [0.1] * 4 + [0.01] * 2 + [0.001] * 2
    assert step.learning_rate(0, time_used=0.6) == pytest.approx(0.01)  # a time budget half spent decays it
    cosine = step.replace(lr_schedule="cosine")
    assert cosine.learning_rate(0) == pytest.approx(0.1)
    assert cosine.learning_rate(4) == pytest.approx(0.05)
    assert cosine.learning_rate(0, time_used=1.0) == pytest.approx(0.0, abs=1e-12)
    lrs = [cosine.learning_rate(i) for i in range(8)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


def test_unknown_method():
    with pytest.raises(LeaklibError, match="valid methods: ig, ig-fast, dlg"):
        AttackConfig.preset("gradinversion")


def test_fast_preset_is_the_paper_recipe_with_the_measured_fields_changed():
    from leaklib.attack.config import FAST_IG

    paper, fast = AttackConfig.preset("ig").to_dict(), AttackConfig.preset("ig-fast").to_dict()
    changed = {k for k in paper if paper[k] != fast[k]} - {"method"}
    assert changed == {k for k in FAST_IG if FAST_IG[k] != paper[k]} and changed
    assert AttackConfig.preset("ig-fast", tv=1e-4).tv == 1e-4  # overrides still win


def test_invert_rejects_bad_input():
    model = TinyConv()
    x, y = batch(2)
    obs = fedsgd_update(model, x, y)
    run = dict(image_shape=SHAPE, progress=False, device="cpu")
    grads = dict(obs.gradient)
    grads["fc.weight"] = grads["fc.weight"][:, :10]
    with pytest.raises(LeaklibError, match="shape"):
        invert(model, FedSGD(grads, 2), y, quick(), **run)
    with pytest.raises(LeaklibError, match="trainable parameters"):
        invert(model, FedSGD({k: v for k, v in obs.gradient.items() if k != "fc.bias"}, 2), y, quick(), **run)
    nan = dict(obs.gradient)
    nan["conv.weight"] = nan["conv.weight"].clone()
    nan["conv.weight"][0, 0, 0, 0] = float("nan")
    with pytest.raises(LeaklibError, match="NaN or Inf"):
        invert(model, FedSGD(nan, 2), y, quick(), **run)
    with pytest.raises(LeaklibError, match=r"labels must lie in 0\.\.4"):
        invert(model, obs, torch.tensor([0, 7]), quick(), **run)
    with pytest.raises(LeaklibError, match="got 3 labels for 2 images"):
        invert(model, obs, torch.tensor([0, 1, 2]), quick(), **run)
    with pytest.raises(LeaklibError, match="'joint'"):
        invert(model, obs, "soft", quick(), **run)
    with pytest.raises(LeaklibError, match="num_images=3"):
        invert(model, obs, y, quick(), num_images=3, **run)
    with pytest.raises(LeaklibError, match="image_shape"):
        invert(model, obs, y, quick(), **{**run, "image_shape": (3, 9, 9)})


# ---------------------------------------------------------------- the loop

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


class Stop(Exception):
    pass


@pytest.mark.parametrize("scales", [1, 3])
def test_checkpoint_resume_gives_the_uninterrupted_result(tmp_path, scales):
    model = TinyConv()
    x, y = batch(2)
    obs = fedavg_update(model, x, y, epochs=1, batch_size=1, lr=0.1)
    cfg = quick(iterations=16, restarts=2, checkpoint_every=4, tv=1e-3, scales=scales)
    run = dict(image_shape=SHAPE, seed=3, progress=False)
    full = invert(model, obs, "joint", cfg, **run)

    def kill_at_10(iteration, losses):
        if iteration == 10:
            raise Stop

    path = tmp_path / "attack.pt"
    with pytest.raises(Stop):
        invert(model, obs, "joint", cfg, checkpoint_path=path, callback=kill_at_10, **run)
    assert torch.load(path, weights_only=False)["iteration"] == 8  # last checkpoint before the kill
    resumed = invert(model, obs, "joint", cfg, checkpoint_path=path, **run)
    assert resumed.extra["resumed_from"] == 8
    assert torch.equal(resumed.images, full.images) and torch.equal(resumed.labels, full.labels)
    assert resumed.loss_history == full.loss_history and resumed.restart_losses == full.restart_losses
    with pytest.raises(LeaklibError, match="another attack"):
        invert(model, obs, "joint", cfg.replace(tv=0.0), checkpoint_path=path, **run)


@pytest.mark.parametrize("fedavg", ["unroll", "pseudo"])
def test_fedavg_and_several_observations_run(fedavg):
    model = TinyConv()
    x, y = batch(2)
    observations = [fedavg_update(model, x, y, epochs=2, batch_size=1, lr=0.05), fedsgd_update(model, x, y)]
    res = invert(model, observations, y, quick(fedavg=fedavg, iterations=5), image_shape=SHAPE, progress=False)
    assert res.images.shape == (2, *SHAPE) and all(v == v for v in res.restart_losses)
    assert isinstance(observations[0], FedAvg)


def test_train_mode_batch_norm_and_bn_prior():
    model = TinyConv()
    x, y = batch(2)
    obs = fedsgd_update(model, x, y, bn="train")
    running = model.bn.running_mean.clone()
    res = invert(model, obs, y, quick(bn_mode="train", bn_prior=1e-2, restarts=2, iterations=4),
                 image_shape=SHAPE, progress=False)
    assert torch.equal(model.bn.running_mean, running) and not model.training
    assert all(v == v for v in res.restart_losses)
    with pytest.raises(LeaklibError, match="batch-norm layers"):
        invert(TinyMLP(), fedsgd_update(TinyMLP(), x, y), y, quick(bn_prior=1.0), image_shape=SHAPE,
               progress=False)


def test_progress_bar_shows_the_loss(capsys):
    model = TinyConv()
    x, y = batch(1)
    invert(model, fedsgd_update(model, x, y), y, quick(iterations=10), image_shape=SHAPE, progress=True)
    err = capsys.readouterr().err
    assert "attack" in err and "loss=" in err


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


def test_lbfgs_follows_torch_lbfgs_without_line_search():
    """One evaluation per iteration = torch.optim.LBFGS(max_iter=1, line_search_fn=None) called repeatedly."""
    from leaklib.attack.optimizers import BatchedLBFGS

    g = torch.Generator().manual_seed(0)
    a = torch.randn(12, 8, generator=g, dtype=torch.float64)
    b = torch.randn(12, generator=g, dtype=torch.float64)

    def f(x):
        return ((a @ x - b) ** 2).sum() + 0.1 * (x**4).sum()

    x_ref = torch.zeros(8, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([x_ref], lr=0.5, max_iter=1, history_size=5, line_search_fn=None)

    def closure():
        opt.zero_grad()
        loss = f(x_ref)
        loss.backward()
        return loss

    x = torch.zeros(1, 8, dtype=torch.float64)
    mine = BatchedLBFGS([x], history=5)
    for _ in range(25):
        opt.step(closure)
        xr = x[0].clone().requires_grad_()
        loss = f(xr)
        (gx,) = torch.autograd.grad(loss, xr)
        (x,) = mine.step([x], [gx[None]], loss.detach()[None], 0.5)
    assert torch.allclose(x[0], x_ref.detach(), atol=1e-8)


def test_observations_carry_their_own_global_weights():
    """An observation made at other weights is simulated there: attacking it equals attacking a model that
    holds those weights, and a list of rounds at successive weights runs."""
    from leaklib.findings.labels_study import local_updates

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
