"""What one attack works on, checked and put on its device once: :func:`prepare` returns an :class:`AttackProblem`.

The problem is everything that stays fixed while the attack runs: the model's parameters and buffers, the
observed targets (flat vectors, :mod:`~leaklib.attack.objectives`), the weights each observation was
computed at, the pixel box, the labels, and the R restarts' start (restart r drawn on the CPU from its
own seed, :func:`~leaklib.attack.inits.restart_seed`, so that CPU and CUDA start alike). What moves is
the loop's :class:`~leaklib.attack.checkpoint.AttackState`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import LeaklibError, check_seed
from ..fl import Observation, as_observations, check_observation, split_state
from ..fl.client import check_labels, model_classes
from ..runtime import resolve_device
from .config import AttackConfig
from .fedavg import observed_target
from .inits import init_images, restart_seed
from .objectives import MatchTarget, element_weights
from .priors import BatchNormStats
from .pyramid import project, start_levels


def pixel_box(normalization: Any, channels: int) -> tuple[Tensor, Tensor]:
    """The normalised image of [0,1]: ``((0 - mean) / std, (1 - mean) / std)`` per channel, shape (C,1,1).

    ``normalization`` has ``mean`` and ``std`` (e.g. a Batch's ``normalization``), or is None for images
    already in [0,1].
    """
    if normalization is None:
        mean, std = torch.zeros(channels), torch.ones(channels)
    else:
        try:
            mean = torch.as_tensor(normalization.mean, dtype=torch.float32).reshape(-1)
            std = torch.as_tensor(normalization.std, dtype=torch.float32).reshape(-1)
        except (AttributeError, TypeError, ValueError):
            raise LeaklibError("normalization must have per-channel mean and std (e.g. batch.normalization) "
                               "or be None") from None
        mean, std = mean.expand(channels).clone(), std.expand(channels).clone()
        if (std <= 0).any():
            raise LeaklibError(f"normalization std must be > 0, got {std.tolist()}")
    return (-mean / std).reshape(channels, 1, 1), ((1 - mean) / std).reshape(channels, 1, 1)


@dataclass(frozen=True, eq=False)
class AttackProblem:
    """One attack's fixed inputs on its device (built by :func:`prepare`; the loop never changes them)."""

    config: AttackConfig
    model: nn.Module
    observations: list[Observation]
    names: list[str]  # the model's parameter names, the order of every flat vector
    params: dict[str, Tensor]
    buffers: dict[str, Tensor]
    restart_buffers: dict[str, Tensor]  # the buffers with a restart axis in train-mode batch norm, else as is
    global_weights: list[dict[str, Tensor]]  # the weights each observation was computed at
    targets: list[Tensor]  # each observation's flat target
    matches: list[MatchTarget]  # the targets with the constant parts of the distance
    lower: Tensor  # the pixel box, (C, 1, 1) each
    upper: Tensor
    known_labels: Tensor | None  # None when the labels are optimised ("joint")
    label_mode: str  # "known" or "joint"
    image_shape: tuple[int, int, int]
    num_images: int
    num_classes: int
    seeds: list[int]  # one per restart
    device: torch.device
    bn_stats: BatchNormStats  # records batch-norm inputs for the BN prior while the attack runs
    start: list[Tensor]  # the variables at iteration 0: the resolution levels (R, N, C, h, w), then label logits

    @property
    def restarts(self) -> int:
        return self.config.restarts

    @property
    def scales(self) -> int:
        """The images are the first ``scales`` variables (resolution levels, pyramid.py)."""
        return self.config.scales

    @property
    def joint(self) -> bool:
        return self.label_mode == "joint"

    @property
    def train_bn(self) -> bool:
        return self.config.bn_mode == "train"

    @property
    def has_prior(self) -> bool:
        c = self.config
        return c.tv > 0 or c.l2 > 0 or c.box_prior > 0 or c.bn_prior > 0


def _check_shape(image_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(image_shape) if isinstance(image_shape, (tuple, list, torch.Size)) else ()
    if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise LeaklibError(f"image_shape must be three positive integers (C, H, W), got {image_shape!r}")
    return shape  # type: ignore[return-value]


def _check_labels(labels: Tensor | str, n: int, num_classes: int) -> str:
    if isinstance(labels, str):
        if labels != "joint":
            raise LeaklibError(f"labels must be a known LongTensor or 'joint', got {labels!r}")
        return "joint"
    check_labels(labels, n, num_classes)  # the client's own check (fl.client), shared
    return "known"


def _restart_seeds(seed: int, restart_seeds: Sequence[int] | None, restarts: int) -> list[int]:
    check_seed("seed", seed)
    seeds = [restart_seed(seed, r) for r in range(restarts)] if restart_seeds is None else list(restart_seeds)
    if len(seeds) != restarts:
        raise LeaklibError(f"restart_seeds has {len(seeds)} entries for {restarts} restarts")
    for s in seeds:
        check_seed("each of restart_seeds", s, limit=2**64)  # what torch.Generator.manual_seed takes
    return seeds


def start_variables(config: AttackConfig, seeds: list[int], shape: tuple[int, ...], num_classes: int | None,
                    lower: Tensor, upper: Tensor, device: torch.device) -> list[Tensor]:
    """The restarts' start: images from each seed's CPU generator as resolution levels, then (if
    ``num_classes`` is given, joint labels) standard-normal label logits from the same generator."""
    images, logits = [], []
    for s in seeds:
        g = torch.Generator().manual_seed(s)
        images.append(init_images(config.init, shape, g, patch_size=config.patch_size, lower=lower, upper=upper))
        if num_classes is not None:
            logits.append(torch.randn((shape[0], num_classes), generator=g))
    variables = start_levels(torch.stack(images).to(device), config.scales)
    if logits:
        variables.append(torch.stack(logits).to(device))
    if config.boxed:
        variables[:config.scales] = project(variables[:config.scales], lower, upper)
    return variables


def prepare(
    model: nn.Module,
    observation: Observation | Sequence[Observation],
    labels: Tensor | str,
    config: AttackConfig | None = None,
    *,
    image_shape: Sequence[int],
    num_images: int | None = None,
    normalization: Any = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    restart_seeds: Sequence[int] | None = None,
) -> AttackProblem:
    """Check an attack's inputs and put what it needs on its device (arguments as in :func:`~leaklib.attack.invert`)."""
    config = (config or AttackConfig()).validate()
    observations = as_observations(observation)
    for obs in observations:
        check_observation(model, obs)
    n = observations[0].num_images
    if num_images is not None and num_images != n:
        raise LeaklibError(f"num_images={num_images} but the observation is of {n} images")
    shape = _check_shape(image_shape)
    seeds = _restart_seeds(seed, restart_seeds, config.restarts)
    dev = resolve_device(device)

    params, buffers = split_state(model)
    params = {k: v.to(dev, torch.float32) for k, v in params.items()}
    buffers = {k: v.to(dev) for k, v in buffers.items()}
    num_classes = model_classes(model, params, buffers, shape, dev)  # also checks that image_shape fits
    label_mode = _check_labels(labels, n, num_classes)
    known = labels.to(dev, torch.long) if label_mode == "known" else None
    lower, upper = (b.to(dev) for b in pixel_box(normalization, shape[0]))

    names = list(params)
    targets = [observed_target(o, config.fedavg, names).to(dev, torch.float32) for o in observations]
    global_weights = [params if o.weights is None else {k: o.weights[k].to(dev, torch.float32) for k in names}
                      for o in observations]
    weights = element_weights(names, [params[k].shape for k in names], config.layer_weights, dev)
    bn_stats = BatchNormStats(model)
    if config.bn_prior > 0 and not bn_stats.layers:
        raise LeaklibError("bn_prior > 0 needs a model with batch-norm layers; this one has none")
    restart_buffers = ({k: v.expand(config.restarts, *v.shape) for k, v in buffers.items()}
                       if config.bn_mode == "train" else buffers)
    start = start_variables(config, seeds, (n, *shape), num_classes if label_mode == "joint" else None,
                            lower, upper, dev)
    return AttackProblem(
        config=config, model=model, observations=observations, names=names, params=params, buffers=buffers,
        restart_buffers=restart_buffers, global_weights=global_weights, targets=targets,
        matches=[MatchTarget.of(t, weights) for t in targets], lower=lower, upper=upper, known_labels=known,
        label_mode=label_mode, image_shape=shape, num_images=n, num_classes=num_classes, seeds=seeds,
        device=dev, bn_stats=bn_stats, start=start)
