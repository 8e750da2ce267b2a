"""``build(name, ...)``: a model by name, deterministic for a seed, optionally with trained weights."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import LeaklibError, check_choice, check_positive
from . import checkpoint as ckpt
from .registry import FAMILIES, Family, Shape, resolve

PADDINGS = ("zeros", "circular")


def list_models() -> list[str]:
    """Every model name pattern (``{..}`` alternatives and ``[..]`` optional parts), e.g. ``resnet{20,..}[-{width}]``."""
    return [f.pattern for f in FAMILIES]


def set_padding(model: nn.Module, padding: str) -> nn.Module:
    """Make every padded convolution pad with ``zeros`` or ``circular`` (translation-invariant; Sec. 5)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and any(p > 0 for p in m.padding):
            m.padding_mode = padding
    return model


def _torchvision_state(name: str, spec: dict[str, int]) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights for ``resnet{depth}`` (downloads; needs internet unless cached)."""
    import torchvision

    weights = torchvision.models.get_model_weights(f"resnet{spec['depth']}").DEFAULT
    try:
        return weights.get_state_dict(progress=True, check_hash=True)
    except Exception as e:
        raise LeaklibError(
            f"trained {name} uses torchvision's ImageNet weights {weights}, which need internet to download "
            f"({type(e).__name__}: {str(e)[:120]}); connect once or pass checkpoint=PATH"
        ) from None


def _shipped_source(path: Path) -> str:
    """``shipped checkpoint <path relative to site-packages> (sha256 <first 12 hex>)``."""
    try:
        rel = path.relative_to(Path(ckpt.__file__).resolve().parents[2]).as_posix()
    except ValueError:  # SHIPPED_DIR points outside the package (tests)
        rel = str(path)
    return f"shipped checkpoint {rel} (sha256 {ckpt.file_sha256(path)[:12]})"


def _trained_state(family: Family, name: str, spec: dict[str, int], num_classes: int, padding: str,
                   dataset: str | None) -> tuple[dict[str, torch.Tensor], dict[str, Any], str]:
    """Weights for ``trained=True``, first found of: (a) the ``leaklib train`` cache (:func:`ckpt.trained_path`),
    (b) the checkpoints shipped inside leaklib (:func:`ckpt.shipped_path`, sha256-checked), (c) torchvision's
    ImageNet weights (ImageNet ResNets, 1000 classes); else a :class:`LeaklibError` naming the training command.
    """
    dataset = dataset.removesuffix("-sample") if dataset else ckpt.default_dataset(num_classes)
    path = ckpt.trained_path(name, dataset, padding)
    if path.is_file():
        state, meta = ckpt.load_checkpoint(path)
        return state, meta, f"cached checkpoint {str(path)!r}"
    shipped = ckpt.shipped_path(name, dataset, padding)
    if shipped is not None:
        state, meta = ckpt.load_checkpoint(shipped)
        return state, meta, _shipped_source(shipped)
    if family.torchvision_weights and dataset == "imagenet":
        if spec.get("width", 1) != 1 or padding != "zeros" or num_classes != 1000:
            raise LeaklibError(
                f"torchvision's ImageNet weights exist only for width 1, zero padding and 1000 classes; "
                f"{name} with padding={padding!r}, num_classes={num_classes} has none"
            )
        return _torchvision_state(name, spec), {}, "torchvision's ImageNet weights"
    raise LeaklibError(
        f"no trained weights for {name} on {dataset} (looked for {str(path)!r}; none ships with leaklib); "
        f"make them with: {ckpt.train_command(name, dataset, padding)}"
    )


def build(
    name: str,
    num_classes: int = 10,
    *,
    padding: str = "zeros",
    trained: bool = False,
    checkpoint: str | os.PathLike | None = None,
    seed: int = 0,
    dataset: str | None = None,
    image_shape: Shape | None = None,
) -> nn.Module:
    """Build model ``name`` (see :func:`list_models`) for normalised (N, C, H, W) images, in eval mode.

    Weights are initialised from ``seed`` without touching the global RNG. ``trained=True`` loads the weights
    ``leaklib train`` cached for ``dataset`` (``cifar10-sample`` means cifar10; default: cifar10 for 10
    classes, cifar100 for 100), else a checkpoint shipped inside leaklib (``lenet-zhu`` on fashion-mnist;
    ``models/shipped/index.json``), else, for ImageNet ResNets with 1000 classes, torchvision's weights;
    ``checkpoint=PATH`` loads that file instead.
    ``image_shape`` (C, H, W) defaults to the checkpoint's, else the family's (3, 32, 32; ImageNet: 3, 224, 224).
    The module carries ``.name``, ``.num_classes``, ``.image_shape``, ``.padding`` and ``.trained``.
    ``keras-cifar-cnn`` always carries its CIFAR-10-trained weights from the wheel;
    ``keras-cifar-cnn-untrained`` is the same architecture, randomly initialised from ``seed``.
    """
    family, spec = resolve(name)
    check_positive("num_classes", num_classes)
    check_choice("padding", padding, PADDINGS)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise LeaklibError(f"seed must be an integer, got {seed!r}")
    if padding != "zeros" and not family.conv:
        raise LeaklibError(f"{name} has no padded convolutions; padding must be 'zeros', got {padding!r}")
    if family.fixed_classes is not None and num_classes != family.fixed_classes:
        raise LeaklibError(f"{name} is a pretrained port with {family.fixed_classes} classes; got num_classes={num_classes}")

    state, meta, source = None, {}, ""
    if checkpoint is not None:
        state, meta = ckpt.load_checkpoint(checkpoint)
        source = f"checkpoint {str(Path(checkpoint))!r}"
    elif trained and family.fixed_classes is not None and not family.pretrained:
        raise LeaklibError(f"{name} is the randomly initialised twin of a trained port; for trained weights "
                           f"build {name.removesuffix('-untrained')!r}")
    elif trained and not family.pretrained:
        state, meta, source = _trained_state(family, name, spec, num_classes, padding, dataset)
    for key, want in (("name", name), ("padding", padding), ("num_classes", num_classes)):
        if key in meta and meta[key] != want:
            raise LeaklibError(f"{source} holds {key}={meta[key]!r}, but {key}={want!r} was asked for")

    shape = tuple(image_shape or meta.get("image_shape") or family.image_shape)
    if len(shape) != 3 or not all(isinstance(s, int) and s > 0 for s in shape):
        raise LeaklibError(f"image_shape must be three positive integers (C, H, W), got {image_shape!r}")
    if family.fixed_classes is not None and shape != family.image_shape:
        raise LeaklibError(f"{name} takes images of shape {family.image_shape}, got image_shape={shape}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            model = family.make(spec, num_classes, shape)
        except ValueError as e:  # e.g. images too small for the architecture
            raise LeaklibError(f"cannot build {name}: {e}") from None
    set_padding(model, padding)
    model.name = name
    model.num_classes = num_classes
    model.image_shape = shape
    model.padding = padding
    model.trained = state is not None or family.pretrained
    if state is not None:
        ckpt.load_state(model, state, source)
    return model.eval()


def last_linear(model: nn.Module) -> tuple[str, str | None]:
    """Names of the final ``nn.Linear``'s weight and bias (what label rules read; Geng et al. Sec. 3).

    "Final" is the last module, in registration order, that holds parameters of its own; it must be an
    ``nn.Linear``. (``keras-cifar-cnn`` applies a ReLU after it, as its Keras original does.)
    """
    last_name, last = None, None
    for mod_name, module in model.named_modules():
        if any(True for _ in module.parameters(recurse=False)):
            last_name, last = mod_name, module
    label = getattr(model, "name", type(model).__name__)
    if not isinstance(last, nn.Linear):
        kind = type(last).__name__ if last is not None else "nothing"
        raise LeaklibError(f"model {label} does not end in an nn.Linear (its last layer with parameters is {kind})")
    prefix = f"{last_name}." if last_name else ""
    return f"{prefix}weight", (f"{prefix}bias" if last.bias is not None else None)


@dataclass(frozen=True)
class ModelInfo:
    """One row of ``leaklib models list``."""

    pattern: str
    example: str
    parameters: int  # of the example instance with the family's default class count
    input_shape: Shape
    trained: str  # where trained weights for the example come from, or "no"
    description: str


def _trained_status(family: Family, example: str, num_classes: int) -> str:
    if family.fixed_classes is not None:
        return "yes (wheel)"
    dataset = ckpt.DATASET_FOR_CLASSES[num_classes]
    if ckpt.trained_path(example, dataset).is_file():
        return f"yes ({dataset}, cached)"
    shipped = [r["dataset"] for r in ckpt.shipped_records() if r["model"] == example]
    if dataset in shipped:
        return f"yes ({dataset}, shipped)"
    if shipped:  # a cached `leaklib train` result for that dataset is what build() would load
        found = ", ".join(f"{d}, {'cached' if ckpt.trained_path(example, d).is_file() else 'shipped'}" for d in shipped)
        return f"yes ({found}); for {dataset} run: {ckpt.train_command(example, dataset)}"
    if family.torchvision_weights:
        import torchvision

        weights = torchvision.models.get_model_weights(example).DEFAULT
        cached = Path(torch.hub.get_dir()) / "checkpoints" / weights.url.rsplit("/", 1)[-1]
        return "yes (torchvision, cached)" if cached.is_file() else "torchvision (needs internet)"
    return f"no (run: {ckpt.train_command(example, dataset)})"


def model_table() -> list[ModelInfo]:
    """Each family with its representative instance: parameter count, input shape, trained weights."""
    rows = []
    for family in FAMILIES:
        num_classes = 1000 if family.torchvision_weights else 10
        model = build(family.example, num_classes)
        rows.append(ModelInfo(
            family.pattern, family.example, sum(p.numel() for p in model.parameters()), model.image_shape,
            _trained_status(family, family.example, num_classes), family.description,
        ))
    return rows


def cached_weights() -> list[Path]:
    """Every weight file ``leaklib train`` has left in the cache."""
    root = ckpt.cache_dir() / "models"
    return sorted(root.glob("*/*.pt")) if root.is_dir() else []
