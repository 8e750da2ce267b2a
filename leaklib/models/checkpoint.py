"""Trained weights on disk: where ``leaklib train`` caches them, those shipped inside leaklib, and safe loading.

Files are read with ``torch.load(weights_only=True)`` only (:func:`leaklib.io.read_torch`), so a checkpoint can
never run code when loaded, and weights holding NaN or inf are refused.
A leaklib weight file is a dict ``{"format": "leaklib-model", "state_dict": ..., "meta": {...}}``; a bare
``state_dict`` (e.g. from ``torch.save(model.state_dict(), path)``) is accepted too.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import LeaklibError
from ..io import read_torch, save_torch  # read_torch: the one safe torch.load (also imported from here)

FORMAT = "leaklib-model"
DEFAULT_TRAIN_EPOCHS = 120  # the schedule length used for the trained CIFAR models of Inverting Gradients
DATASET_FOR_CLASSES = {10: "cifar10", 100: "cifar100", 1000: "imagenet"}
SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"  # trained weights inside the package, listed in index.json


def cache_dir() -> Path:
    """The cache root: ``$LEAKLIB_CACHE`` if set, else ``~/.cache/leaklib``."""
    return Path(os.environ.get("LEAKLIB_CACHE") or Path.home() / ".cache" / "leaklib")


def default_dataset(num_classes: int) -> str:
    """The dataset a model with ``num_classes`` outputs is assumed trained on (10: cifar10, 100: cifar100)."""
    if num_classes not in DATASET_FOR_CLASSES:
        raise LeaklibError(
            f"no default dataset for {num_classes} classes; pass dataset=NAME (defaults exist for "
            f"{', '.join(f'{k}: {v}' for k, v in DATASET_FOR_CLASSES.items())})"
        )
    return DATASET_FOR_CLASSES[num_classes]


def _tag(name: str, padding: str) -> str:
    return name if padding == "zeros" else f"{name}-{padding}"


def trained_path(name: str, dataset: str, padding: str = "zeros") -> Path:
    """Where ``leaklib train`` stores the final weights of ``name`` trained on ``dataset``."""
    return cache_dir() / "models" / dataset / f"{_tag(name, padding)}.pt"


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes, as lowercase hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def shipped_records() -> list[dict[str, Any]]:
    """The records of ``SHIPPED_DIR/index.json`` (empty when there is no index)."""
    index = SHIPPED_DIR / "index.json"
    return json.loads(index.read_text()) if index.is_file() else []


def shipped_path(name: str, dataset: str, padding: str = "zeros") -> Path | None:
    """The checkpoint shipped inside leaklib for ``name`` on ``dataset``, or None when none ships.

    ``SHIPPED_DIR/index.json`` lists one record per file: ``model`` (the tag as in :func:`trained_path`),
    ``dataset``, ``file`` (relative to the index), ``sha256``, and how it was made (``command``,
    ``test_accuracy``, ``torch``, ``notes``). The file's sha256 is checked against its record on every lookup;
    a mismatch (or a missing file) raises :class:`LeaklibError` naming the file and both hashes.
    """
    tag = _tag(name, padding)
    for rec in shipped_records():
        if rec["model"] == tag and rec["dataset"] == dataset:
            path = SHIPPED_DIR / rec["file"]
            actual = file_sha256(path) if path.is_file() else "none (the file is missing)"
            if actual != rec["sha256"]:
                raise LeaklibError(
                    f"shipped checkpoint {str(path)!r} fails its checksum: expected sha256 {rec['sha256']}, "
                    f"actual {actual}; reinstall leaklib"
                )
            return path
    return None


def train_command(name: str, dataset: str, padding: str = "zeros") -> str:
    """The exact command that creates :func:`trained_path` for these settings."""
    cmd = f"leaklib train --model {name} --dataset {dataset} --epochs {DEFAULT_TRAIN_EPOCHS}"
    return cmd + (f" --padding {padding}" if padding != "zeros" else "")


def save_trained(model: nn.Module, path: str | os.PathLike, meta: dict[str, Any]) -> Path:
    """Write a model's weights with their metadata (name, dataset, image shape, ...), atomically."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    meta = json.loads(json.dumps(dict(meta), default=str))  # plain types only, so weights_only can read it
    return save_torch({"format": FORMAT, "state_dict": state, "meta": meta}, path)


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a weight file: returns ``(state_dict, meta)`` (``meta`` is empty for a bare state dict)."""
    obj = read_torch(path)
    meta: dict[str, Any] = {}
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        meta, obj = dict(obj.get("meta") or {}), obj.get("state_dict")
    if not isinstance(obj, dict) or not obj or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()
    ):
        raise LeaklibError(
            f"checkpoint {str(path)!r} is not a state dict (a dict of parameter names to tensors), "
            f"got {type(obj).__name__}"
        )
    bad = [k for k, v in obj.items() if (v.is_floating_point() or v.is_complex()) and not torch.isfinite(v).all()]
    if bad:
        raise LeaklibError(
            f"checkpoint {str(path)!r} holds NaN or inf weights in {len(bad)} tensors (e.g. {bad[0]}), as a "
            "diverged training run leaves; retrain (e.g. with a smaller --lr) or use another file"
        )
    return obj, meta


def load_state(model: nn.Module, state: dict[str, Tensor], source: str) -> nn.Module:
    """Load ``state`` into ``model`` after checking names and shapes; a mismatch names what differs."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} of another shape (e.g. {k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)})")
        name = getattr(model, "name", type(model).__name__)
        raise LeaklibError(f"{source} does not fit model {name}: " + "; ".join(parts))
    model.load_state_dict(state)
    return model
