"""ImageNet validation set as an image folder ``<root>/imagenet/val/<wnid>/*.JPEG``, read lazily.

Each image is resized (shorter side 256) and centre-cropped (224) - the standard evaluation transform,
both configurable. Labels are the index of the wnid in sorted order, which is the ImageNet-1k index when
all 1000 class folders are present (then the class names are the ImageNet-1k names). With fewer folders,
a ``<root>/imagenet/LOC_synset_mapping.txt`` (one ``wnid name`` per line, in label order, as distributed
with the Kaggle copy) maps wnids to ImageNet-1k indices; without it the labels index the folders present.
ImageNet cannot be downloaded automatically (it needs registration).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..errors import LeaklibError
from . import classes, normalization
from .dataset import ImageDataset
from .transforms import imagenet_transform, pil_to_uint8

EXTENSIONS = (".jpeg", ".jpg", ".png")
SPLITS = ("val",)


def val_dir(root: Path) -> Path:
    return Path(root) / "imagenet" / "val"


def _wnid_index(root: Path, wnids: list[str]) -> tuple[dict[str, int], list[str]]:
    """Map each wnid to its label, and give the class names (see the module docstring)."""
    mapping = Path(root) / "imagenet" / "LOC_synset_mapping.txt"
    if len(wnids) == 1000:
        return {w: i for i, w in enumerate(wnids)}, list(classes.imagenet())
    if mapping.is_file():
        order = [line.split()[0] for line in mapping.read_text().splitlines() if line.strip()]
        if len(order) != 1000:
            raise LeaklibError(f"{str(mapping)!r} lists {len(order)} wnids, expected 1000")
        unknown = [w for w in wnids if w not in order]
        if unknown:
            raise LeaklibError(f"class folders {', '.join(unknown[:5])} are not ImageNet-1k wnids in {str(mapping)!r}")
        return {w: order.index(w) for w in wnids}, list(classes.imagenet())
    return {w: i for i, w in enumerate(wnids)}, wnids


def load_imagenet(root: Path, split: str = "val", *, image_size: int = 224, resize: int = 256) -> ImageDataset:
    """Index the validation folder; images are decoded and transformed when accessed."""
    if split not in SPLITS:
        raise LeaklibError(f"unknown split {split!r} for imagenet; valid splits: {', '.join(SPLITS)}")
    folder = val_dir(root)
    if not folder.is_dir():
        raise LeaklibError(
            f"imagenet validation folder {str(folder)!r} is missing; put the images there as <wnid>/*.JPEG "
            "(ImageNet needs registration, it cannot be downloaded automatically), or use imagenet-sample"
        )
    wnids = sorted(d.name for d in folder.iterdir() if d.is_dir())
    index, names = _wnid_index(root, wnids)
    files, labels = [], []
    for wnid in wnids:
        for path in sorted((folder / wnid).iterdir()):
            if path.suffix.lower() in EXTENSIONS:
                files.append(path)
                labels.append(index[wnid])
    if not files:
        raise LeaklibError(f"no images ({', '.join(EXTENSIONS)}) found under {str(folder)!r}/<wnid>/")

    def load(i: int):
        try:
            with Image.open(files[i]) as im:
                return pil_to_uint8(imagenet_transform(im.convert("RGB"), image_size, resize))
        except (OSError, UnidentifiedImageError) as e:
            raise LeaklibError(f"image file {str(files[i])!r} cannot be read ({type(e).__name__}: {e})") from None

    return ImageDataset(
        "imagenet", labels, names, normalization.IMAGENET, (3, image_size, image_size),
        loader=load, source=str(folder), split=split,
    )
