"""Datasets by name, and where their files live.

The data root is, in order: the ``root`` argument, the ``LEAKLIB_DATA`` environment variable, or
``~/.cache/leaklib/data``. Full datasets are downloaded only when allowed: ``download=True`` or
``LEAKLIB_DOWNLOAD=1`` (CIFAR-10/100 and Fashion-MNIST through torchvision; ImageNet never).
The ``*-sample`` sets need no root and no network.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import LeaklibError, unknown
from . import cifar, fashion_mnist, imagenet, samples
from .dataset import ImageDataset

DEFAULT_ROOT = Path("~/.cache/leaklib/data")

# name -> (default split, valid splits, where the images come from)
DATASETS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "cifar10-sample": ("test", ("test",), "foolbox==3.3.4 wheel: first 20 CIFAR-10 test images"),
    "cifar100-sample": ("test", ("test",), "foolbox==3.3.4 wheel: 20 CIFAR-100 test images"),
    "imagenet-sample": ("val", ("val",), "foolbox==3.3.4 wheel: 20 ImageNet photos"),
    "cifar10": ("test", cifar.SPLITS, "<root>/cifar-10-batches-py (torchvision download)"),
    "cifar100": ("test", cifar.SPLITS, "<root>/cifar-100-python (torchvision download)"),
    "imagenet": ("val", imagenet.SPLITS, "<root>/imagenet/val/<wnid>/*.JPEG (no download)"),
    "fashion-mnist": ("test", tuple(fashion_mnist.SPLITS), "Debian dataset-fashion-mnist or torchvision download"),
}


# datasets a Debian package provides (./run_all.sh installs these when a default profile needs them)
DEBIAN_PACKAGES: dict[str, str] = {"fashion-mnist": fashion_mnist.DEBIAN_PACKAGE}


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return list(DATASETS)


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The directory full datasets are read from (argument > ``LEAKLIB_DATA`` > ``~/.cache/leaklib/data``)."""
    chosen = root if root is not None else os.environ.get("LEAKLIB_DATA") or DEFAULT_ROOT
    return Path(chosen).expanduser()


def download_allowed(download: bool | None) -> bool:
    if download is not None:
        return bool(download)
    return os.environ.get("LEAKLIB_DOWNLOAD", "").strip().lower() in ("1", "true", "yes")


def load_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    split: str | None = None,
    download: bool | None = None,
    image_size: int = 224,
    resize: int = 256,
) -> ImageDataset:
    """Load a dataset by name (see :func:`list_datasets`).

    ``split``: ``test`` (default; CIFAR, Fashion-MNIST - the papers attack validation images) or ``train``;
    ``val`` for ImageNet. ``image_size``/``resize``: ImageNet's centre crop and resize (ignored elsewhere).
    """
    if not isinstance(name, str) or name not in DATASETS:
        raise unknown("dataset", name, DATASETS)
    default_split, splits, _ = DATASETS[name]
    split = default_split if split is None else split
    if split not in splits:
        raise LeaklibError(f"unknown split {split!r} for {name}; valid splits: {', '.join(splits)}")
    if name in samples.SAMPLE_SETS:
        return samples.load_sample(name, image_size=image_size, resize=resize)
    base = data_root(root)
    allow = download_allowed(download)
    if base.exists() and not base.is_dir():
        raise LeaklibError(f"data root {str(base)!r} is a file, not a folder; pass a folder (--root / LEAKLIB_DATA)")
    if name in ("cifar10", "cifar100", "imagenet") and not base.is_dir() and not (allow and name != "imagenet"):
        raise LeaklibError(
            f"data root {str(base)!r} does not exist; pass an existing root (--root / LEAKLIB_DATA) "
            f"or use {name}-sample offline"
        )
    if name in cifar.LAYOUT:
        return cifar.load_cifar(name, base, split, allow_download=allow)
    if name == "fashion-mnist":
        return fashion_mnist.load_fashion_mnist(base, split, allow_download=allow)
    return imagenet.load_imagenet(base, split, image_size=image_size, resize=resize)


@dataclass
class DatasetInfo:
    """What ``leaklib data list`` shows for one dataset."""

    name: str
    available: bool
    num_images: int | None
    num_classes: int | None
    image_shape: tuple[int, ...] | None
    split: str
    source: str
    note: str = ""


def dataset_info(name: str, root: str | os.PathLike | None = None, *, split: str | None = None) -> DatasetInfo:
    """Whether ``name`` can be loaded from ``root`` (without downloading) and what it holds.

    Loading is attempted for real (samples are checksummed, CIFAR batches read), so "available" means usable.
    """
    if not isinstance(name, str) or name not in DATASETS:
        raise unknown("dataset", name, DATASETS)
    default_split, _, where = DATASETS[name]
    split = default_split if split is None else split
    try:
        ds = load_dataset(name, root, split=split, download=False)
    except LeaklibError as e:
        return DatasetInfo(name, False, None, None, None, split, where, note=str(e))
    return DatasetInfo(name, True, len(ds), ds.num_classes, ds.image_shape, split, ds.source)
