"""``AttackResult``: what an attack returns and what ``result.json`` stores."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .config import AttackConfig


def _value(loss: float) -> float | None:
    """A loss for JSON: ``None`` where it is NaN or infinite (a diverged restart); JSON has neither."""
    return float(loss) if math.isfinite(loss) else None


def _number(value: float | None) -> float:
    """The inverse of :func:`_value`: ``None`` reads back as NaN."""
    return float("nan") if value is None else float(value)


@dataclass
class AttackResult:
    """The best restart's reconstruction (normalised, like the model's input) and how it was found.

    ``loss_history[r][i]`` is restart r's objective (matching + priors) at iteration i;
    ``restart_losses[r]`` its final matching loss (the criterion for ``best_restart``). In :meth:`to_dict`
    a NaN or infinite loss (a diverged restart) is ``None``.
    """

    images: Tensor
    labels: Tensor
    config: AttackConfig
    loss_history: list[list[float]]
    restart_losses: list[float]
    restart_objectives: list[float]
    best_restart: int
    seeds: list[int]
    seconds: float
    iterations: int
    device: str
    label_mode: str  # "known" (given) or "joint" (optimised with the images)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def loss(self) -> float:
        """The best restart's final matching loss."""
        return self.restart_losses[self.best_restart]

    @property
    def seconds_per_iteration(self) -> float:
        return self.seconds / max(self.iterations, 1)

    def to_dict(self, *, include_images: bool = True) -> dict[str, Any]:
        """Plain JSON-ready values (images as nested lists unless ``include_images`` is False)."""
        out: dict[str, Any] = {
            "labels": self.labels.tolist(),
            "label_mode": self.label_mode,
            "loss": _value(self.loss),
            "best_restart": self.best_restart,
            "restart_losses": [_value(v) for v in self.restart_losses],
            "restart_objectives": [_value(v) for v in self.restart_objectives],
            "seeds": list(self.seeds),
            "seconds": self.seconds,
            "seconds_per_iteration": self.seconds_per_iteration,
            "iterations": self.iterations,
            "device": self.device,
            "config": self.config.to_dict(),
            "loss_history": [[_value(v) for v in h] for h in self.loss_history],
            "extra": dict(self.extra),
        }
        if include_images:
            out["images"] = self.images.tolist()
            out["image_shape"] = list(self.images.shape)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttackResult:
        """Rebuild a result from :meth:`to_dict` output (images needed)."""
        config = dict(data["config"])
        if config.get("lr_milestones") is not None:
            config["lr_milestones"] = tuple(config["lr_milestones"])
        return cls(
            images=torch.tensor(data["images"], dtype=torch.float32),
            labels=torch.tensor(data["labels"], dtype=torch.long),
            config=AttackConfig.from_dict(config),
            loss_history=[[_number(v) for v in h] for h in data["loss_history"]],
            restart_losses=[_number(v) for v in data["restart_losses"]],
            restart_objectives=[_number(v) for v in data["restart_objectives"]],
            best_restart=int(data["best_restart"]),
            seeds=list(data["seeds"]),
            seconds=float(data["seconds"]),
            iterations=int(data["iterations"]),
            device=data["device"],
            label_mode=data["label_mode"],
            extra=dict(data.get("extra", {})),
        )
