"""keras-cifar-cnn: the ported Keras CNN classifies the CIFAR-10 samples and matches a channels-last forward."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from leaklib.data import load_dataset
from leaklib.errors import LeaklibError
from leaklib.fl import fedsgd_update
from leaklib.models import build, last_linear
from leaklib.models.keras_cnn import keras_h5_path, load_keras_cifar_cnn

SAMPLE_LABELS = [3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6]


def cifar10_samples() -> tuple[torch.Tensor, torch.Tensor]:
    """The 20 CIFAR-10 test images of leaklib.data's ``cifar10-sample`` (foolbox wheel), [0, 1] NCHW, labels."""
    ds = load_dataset("cifar10-sample")
    return ds.images01(range(len(ds))), ds.labels


def normalise(x01: torch.Tensor) -> torch.Tensor:
    return load_dataset("cifar10-sample").normalization.normalize(x01)


def test_classifies_all_20_cifar10_samples() -> None:
    x01, labels = cifar10_samples()
    assert labels.tolist() == SAMPLE_LABELS
    model = build("keras-cifar-cnn")
    with torch.no_grad():
        pred = model(normalise(x01)).argmax(1)
    assert (pred == labels).sum().item() == 20


def _keras_forward_numpy(path: Path, raw_hwc: np.ndarray) -> np.ndarray:
    """An independent channels-last forward pass straight from the h5 arrays (Keras' own conventions)."""
    with h5py.File(path, "r") as f:
        w = f["model_weights"]

        def get(layer: str, var: str) -> np.ndarray:
            return w[layer][layer][f"{var}:0"][()].astype(np.float64)

        h = raw_hwc.astype(np.float64)
        for i in range(6):
            k = get("conv2d" if i == 0 else f"conv2d_{i}", "kernel")
            b = get("conv2d" if i == 0 else f"conv2d_{i}", "bias")
            win = np.lib.stride_tricks.sliding_window_view(h, (3, 3), axis=(1, 2))  # N,H',W',C,3,3
            h = np.maximum(np.einsum("nhwcij,ijco->nhwo", win, k) + b, 0)
            bn = "batch_normalization" if i == 0 else f"batch_normalization_{i}"
            h = (h - get(bn, "moving_mean")) / np.sqrt(get(bn, "moving_variance") + 1e-3)
            h = h * get(bn, "gamma") + get(bn, "beta")
            if i in (1, 3):
                n, hh, ww, c = h.shape
                h = h[:, : hh // 2 * 2, : ww // 2 * 2].reshape(n, hh // 2, 2, ww // 2, 2, c).max(axis=(2, 4))
        h = h.reshape(h.shape[0], -1)
        for i in range(3):
            name = "dense" if i == 0 else f"dense_{i}"
            h = np.maximum(h @ get(name, "kernel") + get(name, "bias"), 0)
    return h


def test_port_matches_channels_last_reference() -> None:
    x01, _ = cifar10_samples()
    x01 = x01[:4]
    raw_hwc = (x01 * 255).permute(0, 2, 3, 1).numpy()
    expected = _keras_forward_numpy(keras_h5_path(), raw_hwc)
    with torch.no_grad():
        ours = build("keras-cifar-cnn")(normalise(x01)).double().numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-3)


def test_gradient_and_last_linear() -> None:
    model = build("keras-cifar-cnn")
    x01, labels = cifar10_samples()
    obs = fedsgd_update(model, normalise(x01[:4]), labels[:4])
    w, b = last_linear(model)
    assert (w, b) == ("fc.weight", "fc.bias") and obs.gradient[w].shape == (10, 512)
    assert all(torch.isfinite(g).all() for g in obs.gradient.values())


def test_hash_mismatch_and_options(tmp_path: Path) -> None:
    bad = tmp_path / "cnn_model.h5"
    shutil.copy(keras_h5_path(), bad)
    with open(bad, "r+b") as f:
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 0xFF]))
    with pytest.raises(LeaklibError, match=r"cnn_model\.h5.*expected 0eddc60b"):
        load_keras_cifar_cnn(bad)
    with pytest.raises(LeaklibError, match="10 classes"):
        build("keras-cifar-cnn", num_classes=100)
    with pytest.raises(LeaklibError, match="padding"):
        build("keras-cifar-cnn", padding="circular")
    with pytest.raises(LeaklibError, match="shape"):
        build("keras-cifar-cnn", image_shape=(1, 28, 28))


def test_untrained_twin_has_the_architecture_but_random_weights():
    import torch

    from leaklib.errors import LeaklibError
    from leaklib.models import build

    trained, twin = build("keras-cifar-cnn"), build("keras-cifar-cnn-untrained", seed=1)
    assert trained.trained and not twin.trained
    assert [(n, p.shape) for n, p in trained.named_parameters()] == [(n, p.shape) for n, p in twin.named_parameters()]
    assert not torch.equal(next(trained.parameters()), next(twin.parameters()))
    assert torch.equal(next(twin.parameters()), next(build("keras-cifar-cnn-untrained", seed=1).parameters()))
    import pytest

    with pytest.raises(LeaklibError, match="randomly initialised twin"):
        build("keras-cifar-cnn-untrained", trained=True)
