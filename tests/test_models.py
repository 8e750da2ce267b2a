"""leaklib.models: every family builds, runs, differentiates; padding, determinism, names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from leaklib.cli import main
from leaklib.errors import LeaklibError
from leaklib.fl import fedsgd_update
from leaklib.models import build, last_linear, list_models, save_trained, trained_path

# one small instance per family (keras-cifar-cnn is tested in test_models_keras.py)
SMALL = ["lenet-zhu", "convnet-4", "resnet20", "resnet20-4", "resnet18", "mlp-16"]


@pytest.mark.parametrize("name", SMALL)
def test_forward_and_fedsgd_gradient(name: str) -> None:
    model = build(name, num_classes=7)
    assert model.name == name and model.num_classes == 7
    x = torch.randn(3, 3, 32, 32)
    y = torch.tensor([0, 3, 6])
    assert model(x).shape == (3, 7)
    obs = fedsgd_update(model, x, y)
    params = dict(model.named_parameters())
    assert set(obs.gradient) == set(params)
    w, b = last_linear(model)
    assert obs.gradient[w].shape == (7, params[w].shape[1])
    assert b is not None and obs.gradient[b].shape == (7,)
    assert all(torch.isfinite(g).all() for g in obs.gradient.values())
    assert obs.gradient[w].abs().sum() > 0


@pytest.mark.parametrize("name", ["lenet-zhu", "convnet-4", "resnet20", "resnet18"])
def test_circular_padding_differs_from_zeros(name: str) -> None:
    zeros, circ = build(name, seed=1), build(name, seed=1, padding="circular")
    for a, b in zip(zeros.state_dict().values(), circ.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # same weights: only the padding differs
    x = torch.randn(2, 3, 32, 32)
    assert not torch.allclose(zeros(x), circ(x))
    # circular padding commutes with cyclic shifts up to the network's stride: roll by the total stride
    if name == "lenet-zhu":
        conv = nn.Sequential(*list(circ.body)[:2])  # first conv (stride 2) + sigmoid
        shifted = conv(torch.roll(x, shifts=(2, 4), dims=(2, 3)))
        assert torch.allclose(shifted, torch.roll(conv(x), shifts=(1, 2), dims=(2, 3)), atol=1e-6)


def test_deterministic_for_seed_and_global_rng_untouched() -> None:
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b, c = build("resnet20-4", seed=5), build("resnet20-4", seed=5), build("resnet20-4", seed=6)
    assert torch.equal(torch.random.get_rng_state(), before)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def test_lenet_zhu_dlg_init_and_shape() -> None:
    m = build("lenet-zhu")
    assert all(p.min() >= -0.5 and p.max() <= 0.5 for p in m.parameters())
    assert m.fc.in_features == 768
    assert all(isinstance(a, nn.Sigmoid) for a in list(m.body)[1::2])
    convs = [c for c in m.body if isinstance(c, nn.Conv2d)]
    assert [c.stride[0] for c in convs] == [2, 2, 1] and all(c.out_channels == 12 for c in convs)


def test_resnet_cifar_widths_and_depth() -> None:
    m = build("resnet32-2")
    assert m.conv1.out_channels == 32 and m.fc.in_features == 128
    assert len(m.layer1) == len(m.layer2) == len(m.layer3) == 5


def test_imagenet_resnet_matches_torchvision_layout_and_width() -> None:
    ours = build("resnet18", num_classes=1000).state_dict()
    ref = torchvision.models.resnet18().state_dict()
    assert list(ours) == list(ref)
    assert all(ours[k].shape == ref[k].shape for k in ref)
    wide = build("resnet18-2", num_classes=1000)
    assert wide.conv1.out_channels == 128 and wide.fc.in_features == 1024


def test_mlp_first_layer_is_linear_with_bias() -> None:
    m = build("mlp-16", image_shape=(1, 28, 28))
    first = next(mod for mod in m.modules() if isinstance(mod, nn.Linear))
    assert first.in_features == 784 and first.bias is not None
    assert m(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_bad_names_and_options() -> None:
    with pytest.raises(LeaklibError, match=r"resnet\{20,32,44,56,110\}"):
        build("resnet21")
    with pytest.raises(LeaklibError, match="padding"):
        build("resnet20", padding="reflect")
    with pytest.raises(LeaklibError, match="zeros"):
        build("mlp-8", padding="circular")
    with pytest.raises(LeaklibError, match="num_classes"):
        build("resnet20", num_classes=0)
    with pytest.raises(LeaklibError, match="too small"):
        build("convnet-4", image_shape=(3, 8, 8))
    assert any(p.startswith("resnet{20") for p in list_models())


def test_last_linear_error_when_model_ends_otherwise() -> None:
    with pytest.raises(LeaklibError, match="does not end in an nn.Linear"):
        last_linear(nn.Sequential(nn.Linear(4, 4), nn.Conv2d(1, 1, 1)))
    assert last_linear(nn.Sequential(nn.Linear(4, 2, bias=False))) == ("0.weight", None)


def test_models_list_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("LEAKLIB_CACHE", str(tmp_path))
    save_trained(build("resnet20-4"), trained_path("resnet20-4", "cifar10"), {"name": "resnet20-4"})
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for pattern in list_models():
        assert pattern in out
    row = next(line for line in out.splitlines() if line.startswith("resnet{20"))
    count = sum(p.numel() for p in build("resnet20-4").parameters())
    assert f"{count:,}" in row and "3x32x32" in row and "yes (cifar10, cached)" in row
    assert "leaklib train --model lenet-zhu --dataset cifar10" in out
    assert "cifar10/resnet20-4.pt" in out
