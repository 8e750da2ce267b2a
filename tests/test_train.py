"""leaklib.train / ``leaklib train``: one epoch on a tiny CIFAR-10 written in the pickle format, resume, load."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from leaklib.cli import main
from leaklib.errors import LeaklibError
from leaklib.models import build, trained_path
from leaklib.models.checkpoint import read_torch
from leaklib.train import TrainConfig, augment, lr_at, run_checkpoint_path, train

CLASSES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]


def write_tiny_cifar10(root: Path, per_batch: int = 8, test: int = 10, seed: int = 0) -> Path:
    """``cifar-10-batches-py`` as torchvision downloads it: pickled dicts of uint8 N x 3072 data and labels."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    files = {f"data_batch_{i}": per_batch for i in range(1, 6)} | {"test_batch": test}
    for name, n in files.items():
        labels = rng.integers(0, 10, n)
        # class-dependent mean colour, so a model can learn something
        data = np.clip(rng.normal(20 + 22 * labels[:, None], 30, (n, 3072)), 0, 255).astype(np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels.tolist(), b"batch_label": name.encode()}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": CLASSES, b"num_vis": 3072}, f)
    return root


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LEAKLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LEAKLIB_DOWNLOAD", raising=False)
    return write_tiny_cifar10(tmp_path / "data")


def test_cli_trains_one_epoch_and_build_finds_the_weights(data_root: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["train", "--model", "lenet-zhu", "--dataset", "cifar10", "--epochs", "1", "--batch-size", "16",
            "--device", "cpu", "--root", str(data_root), "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and str(trained_path("lenet-zhu", "cifar10")) in out
    model = build("lenet-zhu", trained=True)
    assert model.trained
    assert not torch.equal(model.fc.weight, build("lenet-zhu").fc.weight)  # trained, not the seed-0 init
    state = read_torch(run_checkpoint_path(TrainConfig("lenet-zhu", "cifar10", epochs=1, batch_size=16)))
    assert state["epoch"] == 1 and set(state) >= {"model", "optimizer", "generator", "config"}


def test_resume_equals_an_uninterrupted_run(data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = TrainConfig("resnet20", "cifar10", epochs=1, batch_size=16, seed=1)
    first = train(config, device="cpu", root=data_root, progress=False)
    assert first.resumed_from == 0 and len(first.history) == 1
    resumed = train(dataclasses.replace(config, epochs=2), device="cpu", root=data_root, progress=False)
    assert resumed.resumed_from == 1 and [h["epoch"] for h in resumed.history] == [1, 2]
    resumed_state = build("resnet20", trained=True).state_dict()

    monkeypatch.setenv("LEAKLIB_CACHE", str(tmp_path / "other-cache"))
    straight = train(dataclasses.replace(config, epochs=2), device="cpu", root=data_root, progress=False)
    assert straight.resumed_from == 0
    straight_state = build("resnet20", trained=True).state_dict()
    for k, v in straight_state.items():
        assert torch.allclose(resumed_state[k].float(), v.float(), atol=1e-6), k
    assert straight.history[1]["loss"] == pytest.approx(resumed.history[1]["loss"], rel=1e-5)


def test_rerun_with_other_settings_is_refused(data_root: Path) -> None:
    config = TrainConfig("lenet-zhu", "cifar10", epochs=1, batch_size=16)
    train(config, device="cpu", root=data_root, progress=False)
    with pytest.raises(LeaklibError, match="lr=0.01, not 0.05"):
        train(dataclasses.replace(config, epochs=2, lr=0.05), device="cpu", root=data_root, progress=False)


def test_bad_settings(data_root: Path) -> None:
    with pytest.raises(LeaklibError, match="dataset"):
        train(TrainConfig("lenet-zhu", "imagenet"), device="cpu", root=data_root, progress=False)
    with pytest.raises(LeaklibError, match="epochs"):
        train(TrainConfig("lenet-zhu", "cifar10", epochs=0), device="cpu", root=data_root, progress=False)
    with pytest.raises(LeaklibError, match="unknown model"):
        train(TrainConfig("lenet", "cifar10", epochs=1), device="cpu", root=data_root, progress=False)


def test_lr_schedule() -> None:
    assert [lr_at(e, 8, 0.1) for e in range(8)] == pytest.approx(
        [0.1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.0001]
    )


def test_augment_is_a_shifted_or_flipped_copy() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 8, 8)
    out = augment(x, g, pad=2)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(len(x)):
        candidates = [c for dy in range(5) for dx in range(5)
                      for c in (padded[i, :, dy:dy + 8, dx:dx + 8], padded[i, :, dy:dy + 8, dx:dx + 8].flip(-1))]
        assert any(torch.equal(out[i], c) for c in candidates)
    assert not torch.equal(out, x)
