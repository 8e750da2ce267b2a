"""leaklib.data: sample sets (checksummed), normalisation, registry, the `leaklib data` command."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from leaklib.cli import main as cli_main
from leaklib.data import (
    Normalization,
    classes,
    dataset_info,
    list_datasets,
    load_dataset,
    manifest,
    normalization,
    samples,
)
from leaklib.errors import LeaklibError

CIFAR10_LABELS = [3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6]
CIFAR100_LABELS = [49, 33, 72, 51, 71, 92, 15, 14, 23, 0, 71, 75, 81, 69, 40, 43, 92, 97, 70, 53]
IMAGENET_LABELS = [243, 559, 438, 990, 949, 853, 609, 609, 915, 455, 541, 630, 741, 471, 129, 99, 251, 22, 317, 305]


@pytest.mark.parametrize(
    "name,labels,shape,num_classes",
    [
        ("cifar10-sample", CIFAR10_LABELS, (3, 32, 32), 10),
        ("cifar100-sample", CIFAR100_LABELS, (3, 32, 32), 100),
        ("imagenet-sample", IMAGENET_LABELS, (3, 224, 224), 1000),
    ],
)
def test_sample_sets_have_20_images_with_true_labels(name, labels, shape, num_classes):
    ds = load_dataset(name)
    assert len(ds) == 20
    assert ds.labels.tolist() == labels
    assert ds.image_shape == shape and ds.num_classes == num_classes == len(ds.classes)
    image, label = ds[0]
    assert image.shape == shape and image.dtype == torch.float32 and label == labels[0]
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.std() > 0.05  # a real picture, not blank


def test_sample_images_match_the_files_pixel_for_pixel():
    from PIL import Image

    ds = load_dataset("cifar10-sample")
    _, _, path = samples.sample_files("cifar10")[7]
    with Image.open(path) as im:
        expected = torch.from_numpy(np.asarray(im.convert("RGB")).copy())
    assert torch.equal(ds.uint8(7), expected.permute(2, 0, 1))


def test_class_names():
    assert load_dataset("cifar10-sample").classes[3] == "cat"
    assert load_dataset("cifar100-sample").classes[49] == "mountain"
    assert classes.imagenet()[243] == "bull mastiff" and len(classes.imagenet()) == 1000
    assert len(classes.CIFAR100) == 100 and list(classes.CIFAR100) == sorted(classes.CIFAR100)


def test_imagenet_sample_crop_is_configurable():
    ds = load_dataset("imagenet-sample", image_size=64, resize=72)
    assert ds.image_shape == (3, 64, 64) and ds[3][0].shape == (3, 64, 64)


def test_manifest_matches_the_installed_wheel():
    text = Path(manifest.__file__).read_text()
    assert samples.manifest_text() == text
    assert len(manifest.SHA256) == 60


def _copy_samples(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    shutil.copytree(samples.foolbox_data_dir(), d)
    return d


def test_checksum_mismatch_names_file_and_expected_hash(tmp_path):
    d = _copy_samples(tmp_path)
    victim = d / "cifar10_05_6.png"
    raw = bytearray(victim.read_bytes())
    raw[-20] ^= 0xFF
    victim.write_bytes(bytes(raw))
    with pytest.raises(LeaklibError) as e:
        samples.load_sample("cifar10-sample", data_dir=d)
    assert "cifar10_05_6.png" in str(e.value) and manifest.SHA256["cifar10_05_6.png"] in str(e.value)
    samples.load_sample("cifar100-sample", data_dir=d)  # the other sets are untouched


def test_checksum_mismatch_via_manifest(monkeypatch):
    wrong = "0" * 64
    monkeypatch.setitem(manifest.SHA256, "imagenet_13_471.jpg", wrong)
    with pytest.raises(LeaklibError, match=r"imagenet_13_471\.jpg.*expected 0{64}"):
        load_dataset("imagenet-sample")


def test_missing_sample_file_is_named(tmp_path):
    d = _copy_samples(tmp_path)
    (d / "cifar100_12_81.png").unlink()
    with pytest.raises(LeaklibError, match=r"cifar100_12_81\.png"):
        samples.load_sample("cifar100-sample", data_dir=d)


@pytest.mark.parametrize("norm", [normalization.CIFAR10, normalization.CIFAR100, normalization.IMAGENET])
def test_normalization_round_trip(norm):
    x01 = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    z = norm.normalize(x01)
    assert not torch.allclose(z, x01)
    torch.testing.assert_close(norm.denormalize(z), x01, atol=1e-6, rtol=0)
    torch.testing.assert_close(norm.normalize(norm.denormalize(z)), z, atol=1e-5, rtol=0)
    # per channel: (x - mean) / std
    c = 2
    torch.testing.assert_close(z[:, c], (x01[:, c] - norm.mean[c]) / norm.std[c])


def test_normalization_rejects_bad_input():
    with pytest.raises(LeaklibError, match="std must be > 0"):
        Normalization((0.5,), (0.0,))
    with pytest.raises(LeaklibError, match="one mean and one std"):
        Normalization((0.5, 0.5), (0.2,))
    with pytest.raises(LeaklibError, match=r"\(\.\.\., 1, H, W\)"):
        normalization.FASHION_MNIST.normalize(torch.rand(2, 3, 4, 4))


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="Debian Fashion-MNIST absent")
def test_fashion_mnist_statistics_match_its_training_set():
    ds = load_dataset("fashion-mnist", split="train")
    assert len(ds) == 60000 and ds.image_shape == (1, 28, 28)
    x = torch.stack([ds.uint8(i) for i in range(0, 60000, 7)]).double() / 255
    assert abs(x.mean().item() - normalization.FASHION_MNIST.mean[0]) < 2e-3
    assert abs(x.std().item() - normalization.FASHION_MNIST.std[0]) < 2e-3


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="Debian Fashion-MNIST absent")
def test_fashion_mnist_test_split_matches_the_foolbox_samples():
    """Two independent copies of the same images: Debian's IDX files and foolbox's PNGs."""
    from PIL import Image

    ds = load_dataset("fashion-mnist")
    assert len(ds) == 10000 and ds.classes[9] == "Ankle boot"
    for path in sorted(samples.foolbox_data_dir().glob("fashionMNIST_*.png"))[:5]:
        _, i, label = path.stem.split("_")
        with Image.open(path) as im:
            png = torch.from_numpy(np.asarray(im).copy()).unsqueeze(0)
        assert int(ds.labels[int(i)]) == int(label)
        assert torch.equal(ds.uint8(int(i)), png)


def test_registry_names_and_errors(tmp_path):
    names = list_datasets()
    assert {"cifar10", "cifar100", "imagenet", "fashion-mnist", "cifar10-sample"} <= set(names)
    with pytest.raises(LeaklibError, match="unknown dataset 'cifar11'.*cifar10-sample"):
        load_dataset("cifar11")
    with pytest.raises(LeaklibError, match="unknown split 'train' for cifar10-sample; valid splits: test"):
        load_dataset("cifar10-sample", split="train")
    with pytest.raises(LeaklibError, match="data root .*nowhere.* does not exist"):
        load_dataset("cifar10", root=tmp_path / "nowhere")
    with pytest.raises(LeaklibError, match="cifar-10-batches-py.*test_batch, batches.meta.*download=True"):
        load_dataset("cifar10", root=tmp_path)


def test_data_root_precedence(monkeypatch, tmp_path):
    from leaklib.data import data_root

    monkeypatch.setenv("LEAKLIB_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("LEAKLIB_DATA")
    assert data_root() == Path("~/.cache/leaklib/data").expanduser()


def test_dataset_info(tmp_path):
    info = dataset_info("cifar10-sample")
    assert info.available and info.num_images == 20 and info.image_shape == (3, 32, 32) and info.num_classes == 10
    missing = dataset_info("cifar100", tmp_path)
    assert not missing.available and "cifar-100-python" in missing.note


def test_cli_data_list(capsys, tmp_path):
    assert cli_main(["data", "list", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in list_datasets():
        assert name in out
    row = next(line for line in out.splitlines() if line.startswith("cifar10-sample"))
    assert row.split()[2:6] == ["yes", "20", "3x32x32", "10"]
    row = next(line for line in out.splitlines() if line.startswith("imagenet "))
    assert row.split()[2] == "no"


def test_cli_data_help(capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(["data", "list", "--help"])
    assert e.value.code == 0 and "--root" in capsys.readouterr().out


def test_image_dataset_stacks_and_checks():
    from leaklib.data import ImageDataset

    ds = load_dataset("cifar10-sample")
    assert ds.uint8_stack().shape == (20, 3, 32, 32)
    assert torch.equal(ds.uint8_stack([4, 0]), torch.stack([ds.uint8(4), ds.uint8(0)]))
    torch.testing.assert_close(ds.images01([4])[0], ds[4][0])
    with pytest.raises(LeaklibError, match=r"indices \[25\] out of range"):
        ds.uint8_stack([3, 25])
    with pytest.raises(LeaklibError, match="must be an integer"):
        ds[1.5]
    images = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    with pytest.raises(LeaklibError, match="labels must lie in 0..1, got 0..2"):
        ImageDataset("t", [0, 2], ["a", "b"], normalization.CIFAR10, (3, 4, 4), images=images)
    with pytest.raises(LeaklibError, match="3-channel images but a 1-channel normalisation"):
        ImageDataset("t", [0, 1], ["a", "b"], normalization.FASHION_MNIST, (3, 4, 4), images=images)
    lazy = ImageDataset("t", [0, 1], ["a", "b"], normalization.CIFAR10, (3, 4, 4), loader=lambda i: images[i])
    assert torch.equal(lazy.uint8_stack(), images)
