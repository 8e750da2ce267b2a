"""Trained weights shipped inside leaklib: ``lenet-zhu`` on Fashion-MNIST loads on a machine with no cache.

Lookup order for ``build(..., trained=True)``: the ``leaklib train`` cache, then the shipped checkpoints
(``leaklib/models/shipped/index.json``, sha256-checked), then torchvision, then an error naming the command.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from leaklib.errors import LeaklibError
from leaklib.models import build, checkpoint, save_trained, trained_path

SHIPPED = dict(name="lenet-zhu", num_classes=10, dataset="fashion-mnist", image_shape=(1, 28, 28))
SHA256 = "2b904d6d8e41e563568ba8e2811420cfa0de5c37c45d88b05cf52534cef13ed1"


@pytest.fixture(autouse=True)
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ``LEAKLIB_CACHE``: whatever ``leaklib train`` left on this machine cannot be used."""
    monkeypatch.setenv("LEAKLIB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_index_lists_the_shipped_lenet_with_its_provenance() -> None:
    (rec,) = checkpoint.shipped_records()
    assert rec["model"] == "lenet-zhu" and rec["dataset"] == "fashion-mnist" and rec["sha256"] == SHA256
    assert rec["command"].startswith("leaklib train --model lenet-zhu --dataset fashion-mnist")
    assert checkpoint.shipped_path("lenet-zhu", "fashion-mnist") == checkpoint.SHIPPED_DIR / rec["file"]


def test_shipped_lenet_loads_with_trained_true_and_no_cache(empty_cache: Path) -> None:
    model = build(trained=True, **SHIPPED)
    assert model.trained and model.image_shape == (1, 28, 28)
    assert not trained_path("lenet-zhu", "fashion-mnist").exists() and not empty_cache.exists()
    untrained = build(**SHIPPED)  # seed 0
    assert not torch.equal(model.fc.weight, untrained.fc.weight)
    assert not torch.equal(model.body[0].weight, untrained.body[0].weight)


def test_shipped_lenet_classifies_fashion_mnist_better_than_chance() -> None:
    from leaklib.data import load_dataset
    from leaklib.train import evaluate

    try:
        ds = load_dataset("fashion-mnist", download=False)
    except LeaklibError as e:
        pytest.skip(f"Fashion-MNIST is not on this machine (apt-get install dataset-fashion-mnist): {e}")
    images = torch.stack([ds.uint8(i) for i in range(500)])  # the first 500 test images
    labels = ds.labels[:500]
    accuracy = evaluate(build(trained=True, **SHIPPED), images, labels, ds.normalization)
    assert accuracy > 0.7  # chance is 0.1; the index records 0.8119 on all 10,000 test images


def test_the_leaklib_train_cache_takes_precedence_over_the_shipped_file() -> None:
    own = build(seed=5, **SHIPPED)
    save_trained(own, trained_path("lenet-zhu", "fashion-mnist"), {"name": "lenet-zhu", "image_shape": [1, 28, 28]})
    model = build(trained=True, **SHIPPED)
    assert torch.equal(model.fc.weight, own.fc.weight)


def _corrupt_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, wrong_sha: bool) -> tuple[Path, str]:
    """Copy the shipped folder to ``tmp_path`` and point leaklib there, with a changed file or a wrong index."""
    shipped = tmp_path / "shipped"
    shutil.copytree(checkpoint.SHIPPED_DIR, shipped)
    monkeypatch.setattr(checkpoint, "SHIPPED_DIR", shipped)
    index = json.loads((shipped / "index.json").read_text())
    pt = shipped / index[0]["file"]
    if wrong_sha:
        index[0]["sha256"] = "0" * 64
        (shipped / "index.json").write_text(json.dumps(index))
    else:
        with pt.open("ab") as f:
            f.write(b"\0")
    return pt, index[0]["sha256"]


@pytest.mark.parametrize("wrong_sha", [True, False], ids=["index-has-wrong-sha256", "file-changed"])
def test_a_shipped_file_that_fails_its_checksum_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          wrong_sha: bool) -> None:
    pt, expected = _corrupt_copy(tmp_path, monkeypatch, wrong_sha=wrong_sha)
    actual = checkpoint.file_sha256(pt)
    assert actual != expected
    with pytest.raises(LeaklibError) as err:
        build(trained=True, **SHIPPED)
    msg = str(err.value)
    assert str(pt) in msg and f"expected sha256 {expected}" in msg and f"actual {actual}" in msg


def test_a_model_or_dataset_with_no_shipped_record_still_names_leaklib_train() -> None:
    assert checkpoint.shipped_path("lenet-zhu", "cifar10") is None
    assert checkpoint.shipped_path("lenet-zhu", "fashion-mnist", padding="circular") is None
    with pytest.raises(LeaklibError, match=r"no trained weights for lenet-zhu on cifar10 .*leaklib train --model lenet-zhu"):
        build("lenet-zhu", trained=True, dataset="cifar10")
    with pytest.raises(LeaklibError, match=r"leaklib train --model convnet --dataset fashion-mnist"):
        build("convnet", trained=True, dataset="fashion-mnist", image_shape=(1, 28, 28))


def test_models_list_reports_the_shipped_weights_when_nothing_is_cached() -> None:
    from leaklib.models import model_table

    row = next(info for info in model_table() if info.example == "lenet-zhu")
    assert row.trained.startswith("yes (fashion-mnist, shipped)")
    assert "leaklib train --model lenet-zhu --dataset cifar10" in row.trained  # cifar10 still needs training
