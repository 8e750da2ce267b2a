"""``ImageDataset``: images with labels, class names and the normalisation a model expects.

Images are kept as uint8 (in memory for CIFAR, Fashion-MNIST and the samples; read lazily from disk
for ImageNet) and handed out as float [0, 1] CHW tensors; a :class:`~leaklib.data.batch.Batch`
normalises them for the model.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..errors import LeaklibError
from .normalization import Normalization


class ImageDataset:
    """A labelled image set. ``ds[i] -> (image01 (C, H, W) float32, label int)``.

    Give either ``images`` (uint8, N x C x H x W) or ``loader`` (index -> uint8 C x H x W tensor).
    """

    def __init__(
        self,
        name: str,
        labels: Tensor | Sequence[int],
        classes: Sequence[str],
        normalization: Normalization,
        image_shape: tuple[int, int, int],
        *,
        images: Tensor | None = None,
        loader: Callable[[int], Tensor] | None = None,
        source: str = "",
        split: str = "",
    ) -> None:
        if (images is None) == (loader is None):
            raise LeaklibError("an ImageDataset needs exactly one of images= or loader=")
        self.name = name
        self.labels = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
        self.classes = list(classes)
        self.normalization = normalization
        self.image_shape = tuple(int(s) for s in image_shape)
        self.source = source
        self.split = split
        self._images = images
        self._loader = loader
        if images is not None:
            if images.dtype != torch.uint8 or tuple(images.shape[1:]) != self.image_shape:
                raise LeaklibError(
                    f"{name}: images must be uint8 shaped (N, {', '.join(map(str, self.image_shape))}), "
                    f"got {images.dtype} {tuple(images.shape)}"
                )
            if len(images) != len(self.labels):
                raise LeaklibError(f"{name}: {len(images)} images but {len(self.labels)} labels")
        if len(self.labels) and not 0 <= int(self.labels.min()) <= int(self.labels.max()) < len(self.classes):
            raise LeaklibError(
                f"{name}: labels must lie in 0..{len(self.classes) - 1}, "
                f"got {int(self.labels.min())}..{int(self.labels.max())}"
            )
        if self.image_shape[0] != normalization.channels:
            raise LeaklibError(
                f"{name}: {self.image_shape[0]}-channel images but a {normalization.channels}-channel normalisation"
            )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.labels)

    def uint8(self, index: int) -> Tensor:
        """Image ``index`` as stored: uint8 (C, H, W)."""
        n = len(self)
        try:
            index = operator.index(index)  # int, numpy or 0-d torch integer
        except TypeError:
            raise LeaklibError(f"image index must be an integer, got {index!r}") from None
        if not -n <= index < n:
            raise LeaklibError(f"image index {index} out of range for {self.name} (0..{n - 1})")
        index %= n
        image = self._images[index] if self._images is not None else self._loader(index)
        if tuple(image.shape) != self.image_shape:
            raise LeaklibError(
                f"{self.name}: image {index} has shape {tuple(image.shape)}, expected {self.image_shape}"
            )
        return image

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        image = self.uint8(index)
        return image.float().div(255.0), int(self.labels[operator.index(index)])

    def uint8_stack(self, indices: Sequence[int] | None = None) -> Tensor:
        """Images at ``indices`` (all when None) as stored: uint8 (N, C, H, W); fast for in-memory sets."""
        if indices is None:
            indices = range(len(self))
        if self._images is not None:
            idx = torch.as_tensor(list(indices), dtype=torch.int64)
            n = len(self)
            if len(idx) and not (-n <= int(idx.min()) and int(idx.max()) < n):
                bad = [int(i) for i in idx if not -n <= i < n][:5]
                raise LeaklibError(f"image indices {bad} out of range for {self.name} (0..{n - 1})")
            return self._images[idx]
        if len(indices) == 0:
            return torch.empty((0, *self.image_shape), dtype=torch.uint8)
        return torch.stack([self.uint8(i) for i in indices])

    def images01(self, indices: Sequence[int] | None = None) -> Tensor:
        """Images at ``indices`` (all when None) as float32 (N, C, H, W) in [0, 1]."""
        return self.uint8_stack(indices).float().div(255.0)

    def class_counts(self) -> Tensor:
        """Number of images of each class (length ``num_classes``)."""
        return torch.bincount(self.labels, minlength=self.num_classes)

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.image_shape))
        return (
            f"ImageDataset({self.name!r}, {len(self)} images {shape}, {self.num_classes} classes, "
            f"split={self.split!r}, source={self.source!r})"
        )
