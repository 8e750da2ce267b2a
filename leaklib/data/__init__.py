"""Datasets by name, their normalisation, and client batches drawn by label pattern.

Full datasets (CIFAR-10/100, ImageNet validation folder, Fashion-MNIST) load from a data root
(argument > ``LEAKLIB_DATA`` > ``~/.cache/leaklib/data``); the ``*-sample`` sets (real images from the
foolbox wheel, checksummed) always work offline.
"""

from .batch import PATTERNS, Batch, make_batch, parse_pattern
from .dataset import ImageDataset
from .normalization import Normalization
from .registry import DatasetInfo, data_root, dataset_info, list_datasets, load_dataset

__all__ = [
    "PATTERNS",
    "Batch",
    "DatasetInfo",
    "ImageDataset",
    "Normalization",
    "data_root",
    "dataset_info",
    "list_datasets",
    "load_dataset",
    "make_batch",
    "parse_pattern",
]
