"""Model names: each family is a name pattern, a constructor, and a representative instance for listings."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ..errors import LeaklibError
from .convnet import DEFAULT_WIDTH, ConvNet
from .lenet import LeNetZhu
from .mlp import MLP
from .resnet_cifar import CIFAR_DEPTHS, CifarResNet
from .resnet_imagenet import IMAGENET_ARCHS, ImageNetResNet

Shape = tuple[int, int, int]
CIFAR_SHAPE: Shape = (3, 32, 32)


@dataclass(frozen=True)
class Family:
    """A set of model names sharing one constructor: ``make(spec, num_classes, image_shape)``."""

    pattern: str  # shown to users, e.g. "resnet{20,32,44,56,110}-{width}"
    regex: str
    example: str  # the representative instance in ``leaklib models list``
    make: Callable[[dict[str, int], int, Shape], nn.Module]
    description: str
    image_shape: Shape = CIFAR_SHAPE  # default input shape
    conv: bool = True  # whether ``padding`` applies
    fixed_classes: int | None = None  # a port with a fixed head (classes and input shape)
    pretrained: bool = False  # always carries its own trained weights (the Keras port)
    torchvision_weights: bool = False  # ImageNet weights exist in torchvision (width 1)
    train_lr: float = 0.1  # default learning rate of ``leaklib train`` for this family


def _keras(spec: dict[str, int], num_classes: int, image_shape: Shape) -> nn.Module:
    from .keras_cnn import load_keras_cifar_cnn

    return load_keras_cifar_cnn()


def _keras_untrained(spec: dict[str, int], num_classes: int, image_shape: Shape) -> nn.Module:
    from .keras_cnn import KerasCifarCNN

    return KerasCifarCNN()


_ALT = "|".join
FAMILIES: tuple[Family, ...] = (
    Family("lenet-zhu", r"lenet-zhu", "lenet-zhu",
           lambda s, k, shape: LeNetZhu(k, shape),
           "DLG's LeNet: 3 sigmoid convs (12 ch) + linear, U(-0.5, 0.5) init",
           train_lr=0.01),  # at 0.1 its sigmoids saturate and it stays at chance (measured on Fashion-MNIST)
    Family("convnet[-{width}]", r"convnet(?:-(?P<width>[1-9]\d*))?", "convnet",
           lambda s, k, shape: ConvNet(s.get("width") or DEFAULT_WIDTH, k, shape),
           f"Inverting Gradients' ConvNet, 8 conv-BN-ReLU layers (default width {DEFAULT_WIDTH})"),
    Family("resnet{20,32,44,56,110}[-{width}]",
           rf"resnet(?P<depth>{_ALT(map(str, CIFAR_DEPTHS))})(?:-(?P<width>[1-9]\d*))?", "resnet20-4",
           lambda s, k, shape: CifarResNet(s["depth"], s.get("width") or 1, k, shape[0]),
           "CIFAR ResNet, BasicBlocks in 3 stages of 16w/32w/64w channels, batch norm"),
    Family("resnet{18,34,50,101,152}[-{width}]",
           rf"resnet(?P<depth>{_ALT(map(str, IMAGENET_ARCHS))})(?:-(?P<width>[1-9]\d*))?", "resnet18",
           lambda s, k, shape: ImageNetResNet(s["depth"], s.get("width") or 1, k, shape[0]),
           "ImageNet ResNet (torchvision blocks), all channels x width", image_shape=(3, 224, 224),
           torchvision_weights=True),
    Family("mlp-{hidden}", r"mlp-(?P<hidden>[1-9]\d*)", "mlp-256",
           lambda s, k, shape: MLP(s["hidden"], k, shape),
           "fully connected: Linear(d, hidden, bias)-ReLU-Linear (analytic recovery, Prop. 3.1)", conv=False),
    Family("keras-cifar-cnn", r"keras-cifar-cnn", "keras-cifar-cnn", _keras,
           "CIFAR-10-trained Keras CNN (cifar-10-model 7.4.0) ported to PyTorch", conv=False,
           fixed_classes=10, pretrained=True),
    Family("keras-cifar-cnn-untrained", r"keras-cifar-cnn-untrained", "keras-cifar-cnn-untrained",
           _keras_untrained, "keras-cifar-cnn's architecture with PyTorch's default random init (its untrained twin)",
           conv=False, fixed_classes=10),
)


def patterns() -> list[str]:
    """The name patterns, for error messages and ``list_models``."""
    return [f.pattern for f in FAMILIES]


def resolve(name: str) -> tuple[Family, dict[str, int]]:
    """The family of ``name`` and the integers parsed from it (depth, width, hidden)."""
    if not isinstance(name, str):
        raise LeaklibError(f"model name must be a string, got {name!r}; valid models: {', '.join(patterns())}")
    for family in FAMILIES:
        m = re.fullmatch(family.regex, name)
        if m:
            return family, {k: int(v) for k, v in m.groupdict().items() if v is not None}
    raise LeaklibError(f"unknown model {name!r}; valid models: {', '.join(patterns())}")


def default_lr(name: str) -> float:
    """The learning rate ``leaklib train`` uses for ``name`` unless told otherwise."""
    return resolve(name)[0].train_lr
