"""CIFAR-10 / CIFAR-100 from the python pickle batches, read by leaklib's own small reader.

Layout under the data root (as torchvision downloads it):
``cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` and
``cifar-100-python/{train, test, meta}``. Each batch is a pickled dict with ``data`` (N x 3072 uint8,
channel-major 32x32) and ``labels`` (CIFAR-10) or ``fine_labels`` (CIFAR-100). torchvision is used only
to download (its dataset class checks md5 sums, so it cannot read files written elsewhere, e.g. by tests).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import LeaklibError, check_choice
from . import classes, normalization
from .dataset import ImageDataset

LAYOUT = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "meta": ("batches.meta", "label_names"),
        "labels": "labels",
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "meta": ("meta", "fine_label_names"),
        "labels": "fine_labels",
    },
}
SPLITS = ("train", "test")


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings and numpy arrays only: a batch file cannot run code."""

    _allowed = {"_reconstruct", "ndarray", "dtype", "scalar", "_frombuffer"}

    def find_class(self, module: str, name: str) -> Any:
        numpy_array = module.split(".")[0] == "numpy" and name in self._allowed
        if numpy_array or (module, name) == ("_codecs", "encode"):  # protocol-2 bytes from Python 3
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_pickle(path: Path) -> dict[str, Any]:
    """Read one CIFAR pickle file into a dict with str keys; a bad file is a LeaklibError naming it."""
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(f, encoding="latin1").load()
    except FileNotFoundError:
        raise LeaklibError(f"CIFAR file {str(path)!r} is missing") from None
    except Exception as e:  # truncated or corrupt pickles raise many kinds of errors
        raise LeaklibError(
            f"CIFAR file {str(path)!r} is truncated or corrupt ({type(e).__name__}: {e}); delete it and download again"
        ) from None
    if not isinstance(obj, dict):
        raise LeaklibError(f"CIFAR file {str(path)!r} does not hold a dict (got {type(obj).__name__})")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def read_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of one batch file."""
    d = read_pickle(path)
    if "data" not in d or label_key not in d:
        raise LeaklibError(f"CIFAR file {str(path)!r} lacks 'data' or {label_key!r}; found keys {sorted(d)}")
    data, labels = np.asarray(d["data"]), np.asarray(d[label_key], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise LeaklibError(
            f"CIFAR file {str(path)!r}: expected uint8 data (N, 3072) and N labels, "
            f"got {data.dtype} {data.shape} and {len(labels)} labels"
        )
    return data.reshape(-1, 3, 32, 32), labels


def folder(root: Path, name: str) -> Path:
    return Path(root) / LAYOUT[name]["folder"]


def present(root: Path, name: str, split: str) -> bool:
    """Whether every file of the split (and the meta file) exists."""
    lay = LAYOUT[name]
    return all((folder(root, name) / f).is_file() for f in [*lay[split], lay["meta"][0]])


def download(root: Path, name: str) -> None:
    """Fetch the archive with torchvision (needs internet); errors become one LeaklibError line."""
    from torchvision import datasets

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
        cls(str(root), train=True, download=True)
    except Exception as e:
        raise LeaklibError(f"downloading {name} into {str(root)!r} failed ({type(e).__name__}: {e})") from None


def load_cifar(name: str, root: Path, split: str = "test", *, allow_download: bool = False) -> ImageDataset:
    """Load a CIFAR split into memory (uint8); download first when files are missing and allowed."""
    check_choice("dataset", name, LAYOUT)
    check_choice("split", split, SPLITS)
    root = Path(root)
    lay = LAYOUT[name]
    if not present(root, name, split):
        if not allow_download:
            missing = [f for f in [*lay[split], lay["meta"][0]] if not (folder(root, name) / f).is_file()]
            raise LeaklibError(
                f"{name} {split} files missing under {str(folder(root, name))!r}: {', '.join(missing)}; "
                f"pass download=True (or set LEAKLIB_DOWNLOAD=1), or use {name}-sample offline"
            )
        download(root, name)
    images, labels = zip(*(read_batch(folder(root, name) / f, lay["labels"]) for f in lay[split]))
    meta_file, meta_key = lay["meta"]
    meta = read_pickle(folder(root, name) / meta_file)
    names = meta.get(meta_key)
    if names is None:
        raise LeaklibError(f"CIFAR file {str(folder(root, name) / meta_file)!r} lacks {meta_key!r}")
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    expected = classes.CIFAR10 if name == "cifar10" else classes.CIFAR100
    if len(names) != len(expected):
        raise LeaklibError(
            f"CIFAR file {str(folder(root, name) / meta_file)!r} lists {len(names)} classes, expected {len(expected)}"
        )
    norm = normalization.CIFAR10 if name == "cifar10" else normalization.CIFAR100
    return ImageDataset(
        name, torch.from_numpy(np.concatenate(labels)), names, norm, (3, 32, 32),
        images=torch.from_numpy(np.concatenate(images)), source=str(folder(root, name)), split=split,
    )
