"""The CIFAR-10-trained Keras CNN of the ``cifar-10-model==7.4.0`` wheel, ported to PyTorch with h5py.

A real trained network that works offline (no CIFAR-10 training set or pretrained weights can be fetched
here), so trained-model experiments (Inverting Gradients, Sec. 5: trained vs untrained) have one to run on.
Architecture, as stored in the h5 file's ``model_config``: six 3x3 valid-padding convolutions, each
conv -> ReLU -> BatchNorm (eps 1e-3), channels 64, 64, max-pool 2, 128, 128, max-pool 2, 64, 64; flatten;
dense 1024 (ReLU), 512 (ReLU), 10 with a ReLU on the output. The Keras model takes raw 0..255 HWC pixels;
this module takes CIFAR-10-normalised NCHW images and converts them internally. Dropout layers (rate 0.2)
are inference no-ops and are left out, so gradients are deterministic.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import torch
from torch import Tensor, nn

from ..data.normalization import CIFAR10 as _CIFAR10
from ..errors import LeaklibError

# the CIFAR-10 normalisation leaklib.data feeds models; forward() inverts it exactly
CIFAR10_MEAN, CIFAR10_STD = _CIFAR10.mean, _CIFAR10.std
H5_RELATIVE = Path("trained_models") / "cnn_model.h5"
H5_SHA256 = "0eddc60b9fcbcab498ff07c8430a94ef1d0ee5ac04ad2d0c75d4977cc25cf9e9"
CONV_CHANNELS = (64, 64, 128, 128, 64, 64)
POOL_AFTER = (1, 3)  # max-pool 2x2 after these conv indices
DENSE_UNITS = (1024, 512, 10)
BN_EPS = 1e-3  # Keras' BatchNormalization default
BN_MOMENTUM = 1 - 0.15  # Keras momentum 0.15 weights the old average; torch's momentum weights the new


class KerasCifarCNN(nn.Module):
    """PyTorch twin of the Keras CNN; input: CIFAR-10-normalised (N, 3, 32, 32) images."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for i, c_out in enumerate(CONV_CHANNELS):
            layers += [nn.Conv2d(c_in, c_out, 3), nn.ReLU(), nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM)]
            if i in POOL_AFTER:
                layers.append(nn.MaxPool2d(2))
            c_in = c_out
        self.features = nn.Sequential(*layers)  # 32 -> 30 -> 28 -> 14 -> 12 -> 10 -> 5 -> 3 -> 1
        self.fc1 = nn.Linear(c_in * 1 * 1, DENSE_UNITS[0])
        self.fc2 = nn.Linear(DENSE_UNITS[0], DENSE_UNITS[1])
        self.fc = nn.Linear(DENSE_UNITS[1], DENSE_UNITS[2])
        self.relu = nn.ReLU()
        self.register_buffer("mean", torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CIFAR10_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        raw = (x * self.std + self.mean) * 255.0  # normalised -> Keras' 0..255 pixels
        h = self.features(raw)
        h = h.permute(0, 2, 3, 1).flatten(1)  # Keras Flatten is channels-last (H, W, C) order
        h = self.relu(self.fc2(self.relu(self.fc1(h))))
        return self.relu(self.fc(h))  # the Keras output layer has a ReLU activation


def keras_h5_path() -> Path:
    """Location of ``cnn_model.h5`` inside the installed wheel, found without importing the package."""
    spec = importlib.util.find_spec("cifar_10_model")
    if spec is None or not spec.submodule_search_locations:
        raise LeaklibError(
            "keras-cifar-cnn needs the cifar-10-model wheel: pip install --no-deps cifar-10-model==7.4.0"
        )
    return Path(next(iter(spec.submodule_search_locations))) / H5_RELATIVE


def _check_sha256(path: Path) -> None:
    if not path.is_file():
        raise LeaklibError(f"Keras weights {str(path)!r} are missing; reinstall cifar-10-model==7.4.0 with --no-deps")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != H5_SHA256:
        raise LeaklibError(f"Keras weights {str(path)!r} have sha256 {digest}, expected {H5_SHA256}")


def load_keras_cifar_cnn(path: str | Path | None = None) -> KerasCifarCNN:
    """Build :class:`KerasCifarCNN` and copy the h5 weights in (kernels HWIO -> OIHW, dense (in, out) -> (out, in))."""
    import h5py

    path = Path(path) if path is not None else keras_h5_path()
    _check_sha256(path)
    model = KerasCifarCNN()
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    bns = [m for m in model.features if isinstance(m, nn.BatchNorm2d)]
    with h5py.File(path, "r") as f, torch.no_grad():
        w = f["model_weights"]

        def get(layer: str, var: str) -> Tensor:
            return torch.from_numpy(w[layer][layer][f"{var}:0"][()])

        for i, (conv, bn) in enumerate(zip(convs, bns, strict=True)):
            name = "conv2d" if i == 0 else f"conv2d_{i}"
            conv.weight.copy_(get(name, "kernel").permute(3, 2, 0, 1))
            conv.bias.copy_(get(name, "bias"))
            name = "batch_normalization" if i == 0 else f"batch_normalization_{i}"
            bn.weight.copy_(get(name, "gamma"))
            bn.bias.copy_(get(name, "beta"))
            bn.running_mean.copy_(get(name, "moving_mean"))
            bn.running_var.copy_(get(name, "moving_variance"))
        for i, dense in enumerate((model.fc1, model.fc2, model.fc)):
            name = "dense" if i == 0 else f"dense_{i}"
            dense.weight.copy_(get(name, "kernel").T)
            dense.bias.copy_(get(name, "bias"))
    return model
