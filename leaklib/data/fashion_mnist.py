"""Fashion-MNIST (1 x 28 x 28 grayscale, 10 classes) from IDX files, read by leaklib's own reader.

Looked for, in order: ``<root>/FashionMNIST/raw/`` (where torchvision downloads it), the Debian package
``dataset-fashion-mnist`` at ``/usr/share/datasets/fashion-mnist/`` (the system folder can be moved with
``LEAKLIB_SYSTEM_DATA``); else downloaded with torchvision into the root when allowed. Files: ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch

from ..errors import LeaklibError, check_choice
from . import classes, normalization
from .dataset import ImageDataset

DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
SPLITS = {"train": "train", "test": "t10k"}
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
           0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped): 2 zero bytes, a type code, the rank, big-endian int32 sizes, data."""
    path = Path(path)
    try:
        with _open(path) as f:
            raw = f.read()
    except FileNotFoundError:
        raise LeaklibError(f"IDX file {str(path)!r} is missing") from None
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise LeaklibError(f"IDX file {str(path)!r} is truncated or corrupt ({type(e).__name__}: {e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise LeaklibError(f"IDX file {str(path)!r} has no valid IDX header (magic {raw[:4].hex()})")
    rank = raw[3]
    header = 4 + 4 * rank
    if len(raw) < header:
        raise LeaklibError(f"IDX file {str(path)!r} is truncated inside its header")
    shape = struct.unpack(f">{rank}I", raw[4:header])
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise LeaklibError(
            f"IDX file {str(path)!r} holds {len(raw) - header} data bytes, its header {shape} needs {expected}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def system_dir() -> Path:
    """Where the Debian package's files are: ``$LEAKLIB_SYSTEM_DATA/fashion-mnist`` when that is set."""
    system = os.environ.get("LEAKLIB_SYSTEM_DATA")
    return Path(system) / "fashion-mnist" if system else DEBIAN_DIR


def locate(root: Path, split: str) -> tuple[Path, Path] | None:
    """(images file, labels file) of a split, or None when neither location has both."""
    prefix = SPLITS[split]
    for directory in (Path(root) / "FashionMNIST" / "raw", system_dir()):
        images = _find(directory, f"{prefix}-images-idx3-ubyte")
        labels = _find(directory, f"{prefix}-labels-idx1-ubyte")
        if images and labels:
            return images, labels
    return None


def download(root: Path) -> None:
    from torchvision import datasets

    try:
        Path(root).mkdir(parents=True, exist_ok=True)
        datasets.FashionMNIST(str(root), train=True, download=True)
        datasets.FashionMNIST(str(root), train=False, download=True)
    except Exception as e:
        raise LeaklibError(f"downloading fashion-mnist into {str(root)!r} failed ({type(e).__name__}: {e})") from None


def load_fashion_mnist(root: Path, split: str = "test", *, allow_download: bool = False) -> ImageDataset:
    """Load a Fashion-MNIST split into memory as uint8 (N, 1, 28, 28)."""
    check_choice("split", split, SPLITS)
    found = locate(root, split)
    if found is None:
        if not allow_download:
            raise LeaklibError(
                f"fashion-mnist {split} files not found in {str(Path(root) / 'FashionMNIST' / 'raw')!r} or "
                f"{str(system_dir())!r}; install it with `apt-get install {DEBIAN_PACKAGE}` (./run_all.sh does this), "
                "or on a machine with internet `leaklib data download fashion-mnist` (or set LEAKLIB_DOWNLOAD=1)"
            )
        download(root)
        found = locate(root, split)
        if found is None:
            raise LeaklibError(f"fashion-mnist download into {str(root)!r} did not produce the IDX files")
    images_path, labels_path = found
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise LeaklibError(f"IDX file {str(images_path)!r}: expected uint8 (N, 28, 28), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise LeaklibError(
            f"IDX file {str(labels_path)!r} holds {labels.shape} labels for {len(images)} images in {str(images_path)!r}"
        )
    return ImageDataset(
        "fashion-mnist", torch.from_numpy(labels.astype(np.int64)), classes.FASHION_MNIST,
        normalization.FASHION_MNIST, (1, 28, 28), images=torch.from_numpy(images.copy()).unsqueeze(1),
        source=str(images_path.parent), split=split,
    )
