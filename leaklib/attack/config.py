"""``AttackConfig``: every knob of the gradient-inversion attack, defaulting to the paper's recipe.

Defaults follow Inverting Gradients (Geiping et al. 2020, Sec. 4): cosine matching over all layers,
Adam on the signed gradient with lr 0.1 divided by 10 at 3/8, 5/8, 7/8 of the iterations, projection to
the pixel box, standard-normal init, TV weight 1e-4 (trained ResNet20-4 on CIFAR-10), 24,000 iterations.
``AttackConfig.preset("dlg")`` gives the DLG baseline (Zhu et al. 2019): Euclidean distance, L-BFGS,
labels optimised jointly, no box, no prior.

``batched=True`` computes the R restarts in one ``vmap`` (fast); ``False`` runs the same per-restart function
one restart at a time, which reproduces single-restart runs bit for bit (float32 accuracy of vmap's batched
double backward through deep conv nets is lower on CPU; see loop.py).
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..errors import LeaklibError, check_choice, check_number, check_positive, is_finite_number

OBJECTIVES = ("cosine", "euclidean")
OPTIMIZERS = ("signed-adam", "adam", "lbfgs")
INITS = ("normal", "uniform", "patch")
FEDAVG_MODES = ("unroll", "pseudo")
BN_MODES = ("eval", "train")
LR_SCHEDULES = ("step", "cosine")
METHODS = ("ig", "ig-fast", "dlg")
MAX_ITERATIONS = 10_000_000  # 400 times the paper's 24,000
MAX_RESTARTS = 10_000
MAX_SCALES = 16  # resolution levels: 2**15 = 32768 pixels, far beyond any image size here
MAX_LBFGS_HISTORY = 10_000


# ``ig-fast``: TV 2e-3, two lr decays late (3/4, 9/10) instead of the paper's TV 1e-4 and three decays from
# 3/8, and the images optimised as a sum of 4 resolution levels (pyramid.py). Chosen in four rounds by mean
# PSNR on held-out cifar10-sample images 4-9 (untrained ResNet20-4, FedSGD, 500 iterations), never on images
# 0-3, which the engine's acceptance test scores: 19.66 dB against 18.39 without the levels and the paper
# recipe's 15.98 (docs/BENCHMARK.md).
FAST_IG: dict[str, Any] = {"tv": 2e-3, "lr_milestones": (0.75, 0.9), "scales": 4}


@dataclass(frozen=True)
class AttackConfig:
    """What the attacker optimises and how (one frozen record, stored with every result)."""

    objective: str = "cosine"
    layer_weights: dict[str, float] | None = None  # per-layer weights of the matching term; None = all 1
    optimizer: str = "signed-adam"
    lr: float = 0.1
    lr_milestones: tuple[float, ...] = (3 / 8, 5 / 8, 7 / 8)  # fractions of ``iterations``
    lr_decay: float = 0.1
    lr_schedule: str = "step"  # "step": x lr_decay at each milestone; "cosine": lr * (1 + cos(pi * fraction)) / 2
    iterations: int = 24_000
    restarts: int = 1
    tv: float = 1e-4
    l2: float = 0.0
    box_prior: float = 0.0  # weight of the distance to the pixel box
    bn_prior: float = 0.0  # weight of batch-norm statistic matching (GradInversion)
    init: str = "normal"
    scales: int = 1  # images as a sum of this many resolution levels (pyramid.py); 1 = pixels
    patch_size: int = 4  # side of the random patch tiled by ``init="patch"``
    boxed: bool = True  # project to the normalised image of [0,1] after each step
    fedavg: str = "unroll"  # FedAvg: replay local SGD ("unroll") or match Geng's pseudo-gradient
    bn_mode: str = "eval"  # the model's batch norm while attacking (running or batch statistics)
    lbfgs_history: int = 100
    batched: bool = True  # restarts in one vmap; False: one at a time through the same function (see loop.py)
    checkpoint_every: int = 0  # iterations between checkpoints; 0 = never
    time_budget: float = 0.0  # seconds; > 0 stops the attack then and schedules lr by the time used
    method: str = "custom"  # the preset this config came from (informational)

    @classmethod
    def preset(cls, method: str, **overrides: Any) -> AttackConfig:
        """A recipe by name: ``ig`` (Inverting Gradients as published), ``ig-fast`` or ``dlg`` (DLG, L-BFGS).

        ``ig-fast`` is Inverting Gradients with the hyper-parameters leaklib measured for short budgets
        (hundreds of iterations on a CPU): :data:`FAST_IG` (how they were chosen: docs/BENCHMARK.md).
        """
        check_choice("method", method, METHODS)
        base: dict[str, Any] = {"method": method}
        if method == "ig-fast":
            base.update(FAST_IG)
        if method == "dlg":
            base.update(objective="euclidean", optimizer="lbfgs", lr=1.0, lr_milestones=(), tv=0.0,
                        boxed=False, iterations=300 * 20)  # 300 L-BFGS steps of up to 20 evaluations
        base.update(overrides)
        return cls(**base).validate()

    def replace(self, **changes: Any) -> AttackConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes).validate()

    def validate(self) -> AttackConfig:
        """Raise :class:`LeaklibError` on a setting that cannot work; return ``self``."""
        check_choice("objective", self.objective, OBJECTIVES)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("init", self.init, INITS)
        check_choice("fedavg attack", self.fedavg, FEDAVG_MODES)
        check_choice("batch-norm mode", self.bn_mode, BN_MODES)
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        # Upper bounds: memory grows with restarts, scales and the L-BFGS history (and the loss history
        # with the iterations run), so a mistyped huge number is refused here, not by the allocator.
        check_positive("iterations", self.iterations, maximum=MAX_ITERATIONS)
        check_positive("restarts", self.restarts, maximum=MAX_RESTARTS)
        check_positive("patch_size", self.patch_size)
        check_positive("scales", self.scales, maximum=MAX_SCALES)
        check_positive("lbfgs_history", self.lbfgs_history, maximum=MAX_LBFGS_HISTORY)
        check_positive("checkpoint_every", self.checkpoint_every, allow_zero=True)
        check_positive("lr", self.lr, integer=False)
        check_positive("time_budget", self.time_budget, allow_zero=True, integer=False)
        for name in ("tv", "l2", "box_prior", "bn_prior"):
            value = getattr(self, name)
            if not is_finite_number(value) or value < 0:
                raise LeaklibError(f"{name} weight must be a finite number >= 0, got {value!r}")
        check_number("lr_decay", self.lr_decay)
        if not 0 < self.lr_decay <= 1:
            raise LeaklibError(f"lr_decay must lie in (0, 1], got {self.lr_decay!r}")
        if any(not is_finite_number(m) or not 0 < m < 1 for m in self.lr_milestones):
            raise LeaklibError(f"lr_milestones are fractions of the iterations in (0, 1), got {self.lr_milestones!r}")
        if self.layer_weights is not None:
            bad = {k: v for k, v in self.layer_weights.items() if not is_finite_number(v) or v < 0}
            if bad:
                raise LeaklibError(f"layer_weights must be finite numbers >= 0, got {bad}")
        return self

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr_milestones", tuple(self.lr_milestones))
        self.validate()

    def milestones(self) -> list[int]:
        """Iterations at which the learning rate is multiplied by ``lr_decay``."""
        return sorted({int(round(f * self.iterations)) for f in self.lr_milestones})

    def learning_rate(self, iteration: int, time_used: float = 0.0) -> float:
        """The step size at ``iteration`` (from 0). With a time budget, ``time_used`` is the fraction of it
        spent, and the schedule follows the larger of the iteration and time fractions."""
        if self.lr_schedule == "cosine":
            fraction = min(max(iteration / self.iterations, time_used), 1.0)
            return self.lr * 0.5 * (1 + math.cos(math.pi * fraction))
        decays = max(bisect.bisect_right(self.milestones(), iteration),
                     sum(f <= time_used for f in self.lr_milestones))
        return self.lr * self.lr_decay ** decays

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttackConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise LeaklibError(f"unknown AttackConfig fields {unknown}; valid fields: {', '.join(sorted(names))}")
        return cls(**data)

