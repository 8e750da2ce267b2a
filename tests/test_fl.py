"""The simulated clients: FedSGD gradients and FedAvg updates against plain autograd and torch.optim."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from leaklib.errors import LeaklibError
from leaklib.fl import (
    FedAvg,
    FedSGD,
    as_observations,
    check_observation,
    fedavg_update,
    fedsgd_update,
    local_sgd,
    minibatch_schedule,
    parameter_gradient,
    parameter_gradient_graph,
    split_state,
)


class Tiny(nn.Module):
    num_classes = 5

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x):
        return self.fc(F.relu(self.bn(self.conv(x))).flatten(1))


@pytest.fixture
def setup():
    torch.manual_seed(0)
    model = Tiny().eval()
    images = torch.randn(6, 3, 8, 8)
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    return model, images, labels


def test_fedsgd_equals_autograd(setup):
    model, images, labels = setup
    obs = fedsgd_update(model, images, labels)
    model.zero_grad()
    F.cross_entropy(model(images), labels).backward()
    assert list(obs.gradient) == [n for n, _ in model.named_parameters()]
    for name, p in model.named_parameters():
        torch.testing.assert_close(obs.gradient[name], p.grad)
    assert obs.num_images == 6


def test_fedsgd_train_mode_keeps_model_and_buffers(setup):
    model, images, labels = setup
    before = {k: v.clone() for k, v in model.state_dict().items()}
    g_eval = fedsgd_update(model, images, labels, bn="eval").gradient
    g_train = fedsgd_update(model, images, labels, bn="train").gradient
    assert not model.training
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])
    assert not torch.allclose(g_eval["conv.weight"], g_train["conv.weight"])


def test_fedavg_one_full_batch_step_is_minus_lr_times_gradient(setup):
    model, images, labels = setup
    g = fedsgd_update(model, images, labels).gradient
    obs = fedavg_update(model, images, labels, epochs=1, batch_size=6, lr=0.1)
    assert obs.steps == 1
    for k in g:
        torch.testing.assert_close(obs.update[k], -0.1 * g[k])
        torch.testing.assert_close(obs.pseudo_gradient()[k], g[k])


@pytest.mark.parametrize("shuffle_seed", [None, 3])
def test_fedavg_matches_torch_optim_sgd(setup, shuffle_seed):
    model, images, labels = setup
    obs = fedavg_update(model, images, labels, epochs=3, batch_size=4, lr=0.05, shuffle_seed=shuffle_seed)
    assert obs.steps == 3 * math.ceil(6 / 4)
    ref = Tiny().eval()
    ref.load_state_dict(model.state_dict())
    opt = torch.optim.SGD(ref.parameters(), lr=0.05)
    for idx in minibatch_schedule(6, 4, 3, shuffle_seed):
        opt.zero_grad()
        F.cross_entropy(ref(images[idx]), labels[idx]).backward()
        opt.step()
    for (name, p0), p1 in zip(model.named_parameters(), ref.parameters()):
        torch.testing.assert_close(obs.update[name], p1.detach() - p0.detach(), atol=1e-6, rtol=1e-5)


def test_minibatch_schedule_covers_every_image_each_epoch():
    order = minibatch_schedule(10, 4, 2, shuffle_seed=7)
    assert [len(b) for b in order] == [4, 4, 2, 4, 4, 2]
    assert sorted(torch.cat(order[:3]).tolist()) == list(range(10))
    assert not torch.equal(torch.cat(order[:3]), torch.cat(order[3:]))  # a new permutation per epoch
    assert all(torch.equal(a, b) for a, b in zip(order, minibatch_schedule(10, 4, 2, shuffle_seed=7)))


def test_local_sgd_is_differentiable_in_the_images(setup):
    model, images, labels = setup
    params, buffers = split_state(model)
    x = images.clone().requires_grad_(True)
    final = local_sgd(model, params, buffers, x, labels, epochs=2, batch_size=3, lr=0.1)
    loss = sum((final[k] - params[k]).pow(2).sum() for k in params)
    (gx,) = torch.autograd.grad(loss, x)
    assert gx.abs().sum() > 0


def test_check_observation_errors(setup):
    model, images, labels = setup
    obs = fedsgd_update(model, images, labels)
    check_observation(model, obs)
    grad = dict(obs.gradient)
    grad.pop("fc.bias")
    with pytest.raises(LeaklibError, match="5 tensors but the model has 6"):
        check_observation(model, FedSGD(grad, 6))
    bad = dict(obs.gradient, **{"fc.bias": torch.zeros(7)})
    with pytest.raises(LeaklibError, match=r"'fc.bias' has shape \(7,\)"):
        check_observation(model, FedSGD(bad, 6))
    nan = dict(obs.gradient, **{"fc.bias": torch.full((5,), float("nan"))})
    with pytest.raises(LeaklibError, match="NaN or Inf"):
        check_observation(model, FedSGD(nan, 6))
    zero = {k: torch.zeros_like(v) for k, v in obs.gradient.items()}
    with pytest.raises(LeaklibError, match="all zero"):
        check_observation(model, FedSGD(zero, 6))
    with pytest.raises(LeaklibError, match="epochs > 0"):
        check_observation(model, FedAvg(obs.gradient, epochs=0, batch_size=2, lr=0.1, num_images=6))


def test_client_input_errors(setup):
    model, images, labels = setup
    with pytest.raises(LeaklibError, match="expected 6 labels"):
        fedsgd_update(model, images, labels[:5])
    with pytest.raises(LeaklibError, match=r"labels must lie in 0..4"):
        fedsgd_update(model, images, labels + 3)
    with pytest.raises(LeaklibError, match="non-empty"):
        fedsgd_update(model, images[:0], labels[:0])
    with pytest.raises(LeaklibError, match="larger than the client's 6 images"):
        fedavg_update(model, images, labels, batch_size=8)
    with pytest.raises(LeaklibError, match="epochs must be > 0"):
        fedavg_update(model, images, labels, epochs=0)
    with pytest.raises(LeaklibError, match="batch-norm mode"):
        fedsgd_update(model, images, labels, bn="frozen")


def test_as_observations(setup):
    model, images, labels = setup
    obs = fedsgd_update(model, images, labels)
    assert as_observations(obs) == [obs]
    assert as_observations([obs, obs]) == [obs, obs]
    with pytest.raises(LeaklibError, match="non-empty list"):
        as_observations([])
    with pytest.raises(LeaklibError, match="agree on num_images"):
        as_observations([obs, FedSGD(obs.gradient, 3)])


def test_shuffled_schedule_can_be_replayed_inside_vmap(setup):
    model, images, labels = setup
    params, buffers = split_state(model)

    def update_norm(x):
        final = local_sgd(model, params, buffers, x, labels, epochs=2, batch_size=3, lr=0.1, shuffle_seed=4)
        return sum((final[k] - params[k]).pow(2).sum() for k in params)

    batched = torch.func.vmap(update_norm)(torch.stack([images, images + 0.1]))
    torch.testing.assert_close(batched[0], update_norm(images))


def test_parameter_gradient_graph_equals_the_torch_func_gradient_and_its_double_backward():
    torch.manual_seed(0)
    model = Tiny().eval()
    params, buffers = split_state(model)
    y = torch.tensor([1, 3])
    direction = {n: torch.randn_like(p) for n, p in params.items()}
    results = []
    for gradient in (parameter_gradient, parameter_gradient_graph):
        x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
        g = gradient(model, params, buffers, x, y)
        (dx,) = torch.autograd.grad(sum((g[n] * direction[n]).sum() for n in g), x)  # the attack's double backward
        results.append((g, dx))
    (g1, dx1), (g2, dx2) = results
    assert list(g1) == list(g2) and all(torch.allclose(g1[n], g2[n], atol=1e-6) for n in g1)
    assert torch.allclose(dx1, dx2, atol=1e-6) and dx1.abs().max() > 0
    with torch.no_grad():  # the values alone, without a graph
        g3 = parameter_gradient_graph(model, params, buffers, torch.randn(2, 3, 8, 8), y)
    assert all(not v.requires_grad for v in g3.values())
