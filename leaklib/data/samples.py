"""Offline sample sets: the real images shipped in the foolbox==3.3.4 wheel (``foolbox/data/``).

``cifar10_{i}_{label}.png`` are the first 20 CIFAR-10 test images, ``cifar100_...`` 20 CIFAR-100 test
images (fine labels), ``imagenet_{i}_{label}.jpg`` 20 ImageNet photos (label = ImageNet-1k index).
The package is located without importing it, and every file is checked against the SHA-256 manifest
in :mod:`leaklib.data.manifest` before it is used.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import re
from pathlib import Path

import torch
from PIL import Image

from ..errors import LeaklibError
from . import classes, normalization
from .dataset import ImageDataset
from .transforms import imagenet_transform, pil_to_uint8

# sample set name -> file-name prefix in foolbox/data
SAMPLE_SETS = {"cifar10-sample": "cifar10", "cifar100-sample": "cifar100", "imagenet-sample": "imagenet"}
_FILE = re.compile(r"^(cifar10|cifar100|imagenet)_(\d+)_(\d+)\.(png|jpg)$")


def foolbox_data_dir() -> Path:
    """``foolbox/data`` of the installed wheel, found without importing foolbox."""
    spec = importlib.util.find_spec("foolbox")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if (Path(location) / "data").is_dir():
                return Path(location) / "data"
    try:  # fall back to the wheel's file list
        for f in importlib.metadata.files("foolbox") or []:
            if f.parts[:2] == ("foolbox", "data"):
                return Path(f.locate()).parent
    except importlib.metadata.PackageNotFoundError:
        pass
    raise LeaklibError("the sample images need the foolbox==3.3.4 wheel: pip install foolbox==3.3.4 --no-deps")


def sample_files(prefix: str, data_dir: Path | None = None) -> list[tuple[int, int, Path]]:
    """``(index i, label, path)`` of the sample files of one set, ordered by i."""
    data_dir = foolbox_data_dir() if data_dir is None else Path(data_dir)
    found = []
    for path in data_dir.iterdir():
        m = _FILE.match(path.name)
        if m and m.group(1) == prefix:
            found.append((int(m.group(2)), int(m.group(3)), path))
    return sorted(found)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def verify(path: Path, expected: dict[str, str] | None = None) -> None:
    """Raise unless ``path`` has the SHA-256 recorded in the manifest for its name."""
    from . import manifest

    expected = manifest.SHA256 if expected is None else expected
    name = Path(path).name
    if name not in expected:
        raise LeaklibError(f"sample file {str(path)!r} is not in leaklib's manifest (leaklib/data/manifest.py)")
    got = sha256(path)
    if got != expected[name]:
        raise LeaklibError(
            f"sample file {str(path)!r} has sha256 {got}, expected {expected[name]}; "
            f"reinstall foolbox=={manifest.FOOLBOX_VERSION}"
        )


def load_sample(name: str, *, image_size: int = 224, resize: int = 256, data_dir: Path | None = None) -> ImageDataset:
    """Load ``cifar10-sample``, ``cifar100-sample`` or ``imagenet-sample`` (20 images each), checksums verified.

    ImageNet photos get the same resize + centre crop as the full validation set.
    """
    from . import manifest

    prefix = SAMPLE_SETS[name]
    files = sample_files(prefix, data_dir)
    expected_names = sorted(n for n in manifest.SHA256 if n.startswith(prefix + "_"))
    missing = sorted(set(expected_names) - {p.name for _, _, p in files})
    if missing:
        where = files[0][2].parent if files else (data_dir or foolbox_data_dir())
        raise LeaklibError(f"{name}: sample file(s) {', '.join(missing)} missing from {where}")
    images, labels = [], []
    for _, label, path in files:
        verify(path)
        with Image.open(path) as im:
            im = im.convert("RGB")
            if prefix == "imagenet":
                im = imagenet_transform(im, image_size, resize)
            images.append(pil_to_uint8(im))
        labels.append(label)
    if prefix == "cifar10":
        names, norm = classes.CIFAR10, normalization.CIFAR10
    elif prefix == "cifar100":
        names, norm = classes.CIFAR100, normalization.CIFAR100
    else:
        names, norm = classes.imagenet(), normalization.IMAGENET
    stacked = torch.stack(images)
    return ImageDataset(
        name, labels, names, norm, tuple(stacked.shape[1:]), images=stacked,
        source=str(files[0][2].parent), split="test",
    )


def manifest_text(data_dir: Path | None = None) -> str:
    """The text of ``leaklib/data/manifest.py``, hashed from the installed wheel's files."""
    data_dir = foolbox_data_dir() if data_dir is None else Path(data_dir)
    paths = sorted(p for p in data_dir.iterdir() if _FILE.match(p.name))
    version = importlib.metadata.version("foolbox")
    rows = "\n".join(f'    "{p.name}": "{sha256(p)}",' for p in paths)
    return (
        f'"""SHA-256 of the sample images in the foolbox=={version} wheel (foolbox/data/), checked at load time.\n\n'
        "Made once from the installed wheel (do not edit by hand) with:\n\n"
        "    .venv/bin/python -c \"from leaklib.data.samples import manifest_text; print(manifest_text(), end='')\" \\\n"
        "        > leaklib/data/manifest.py\n"
        '"""\n\n'
        f'FOOLBOX_VERSION = "{version}"\n\n'
        f"SHA256 = {{\n{rows}\n}}\n"
    )
