"""What the benchmark attacks and records: its cases, the shared problem, and one run's record.

Both libraries get the same model weights, the same shared update, the same images and known labels
(:class:`Problem`). While a run goes, its current reconstruction is copied every ``every`` iterations with
a timestamp (a clone of the images, microseconds); PSNR is computed after the run (:func:`psnr_curve`), so
the clock only sees the attack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn


@dataclass(frozen=True)
class BenchCase:
    """One benchmark setting: client batch size, restarts, and FedAvg local steps (0 = FedSGD)."""

    name: str
    num_images: int = 1
    restarts: int = 1
    local_steps: int = 0
    local_lr: float = 1e-3  # breaching's fedavg_small_scale case uses 1e-3

    @property
    def setting(self) -> str:
        return "fedavg" if self.local_steps else "fedsgd"


CASES: dict[str, BenchCase] = {c.name: c for c in (
    BenchCase("single"),
    BenchCase("batch4", num_images=4),
    BenchCase("restarts8", restarts=8),
    BenchCase("fedavg5", local_steps=5),
)}


@dataclass
class Problem:
    """What both libraries attack: model, the client's update, its images (normalised) and labels."""

    case: BenchCase
    model: nn.Module
    observation: Any
    images: Tensor
    labels: Tensor
    normalization: Any
    image_shape: tuple[int, int, int]
    model_name: str
    dataset: str
    indices: list[int]


def make_problem(case: BenchCase, *, model_name: str = "resnet20-4", dataset: str = "cifar10-sample",
                 first_index: int = 0, seed: int = 0) -> Problem:
    """The case's client: the first ``num_images`` images from ``first_index``, an untrained model."""
    from ..data import load_dataset, make_batch
    from ..fl import fedavg_update, fedsgd_update
    from ..models import build

    ds = load_dataset(dataset)
    indices = list(range(first_index, first_index + case.num_images))
    batch = make_batch(ds, case.num_images, indices=indices)
    model = build(model_name, num_classes=ds.num_classes, seed=seed).eval()
    if case.local_steps:
        obs = fedavg_update(model, batch.images, batch.labels, epochs=case.local_steps,
                            batch_size=case.num_images, lr=case.local_lr)
    else:
        obs = fedsgd_update(model, batch.images, batch.labels)
    return Problem(case, model, obs, batch.images, batch.labels, batch.normalization, tuple(ds.image_shape),
                   model_name, dataset, indices)


def psnr_of(problem: Problem, images: Tensor) -> float:
    """Aligned mean PSNR (dB) of normalised reconstructions against the client's images."""
    from ..metrics import batch_metrics

    recon01 = problem.normalization.denormalize(images.detach().cpu().float()).clamp(0, 1)
    true01 = problem.normalization.denormalize(problem.images).clamp(0, 1)
    return float(batch_metrics(recon01, true01, problem.labels, problem.labels)["psnr"])


@dataclass
class RunRecord:
    """One attack run: its budget, wall time, final PSNR and the PSNR along the way."""

    library: str
    budget: str  # "iterations" or "time"
    iterations: int
    seconds: float
    psnr: float
    seed: int
    curve: list[list[float]] = field(default_factory=list)  # (seconds, iteration, psnr)
    time_budget: float | None = None

    @property
    def seconds_per_iteration(self) -> float:
        return self.seconds / max(self.iterations, 1)


def psnr_curve(problem: Problem, snaps: list[tuple[float, int, Tensor]]) -> list[list[float]]:
    """Rows ``(seconds, iteration, psnr)`` of timestamped reconstructions ``(seconds, iteration, images)``."""
    return [[t, it, psnr_of(problem, x)] for t, it, x in snaps]
