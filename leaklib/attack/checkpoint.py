"""A running attack's state, saved atomically every ``checkpoint_every`` iterations and resumed from its file.

A checkpoint holds the variables, the optimiser's state, the iteration, the time spent, the loss history
and the CPU random state, plus a fingerprint of the attack (config, seeds, shape, labels, norms of the
targets and weights): a file whose fingerprint differs belongs to another attack and is refused. It is
read with ``weights_only=True`` and checked field by field, so a planted file cannot run code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import LeaklibError
from ..io import read_torch, save_torch
from .optimizers import BatchedAdam, BatchedLBFGS
from .problem import AttackProblem

CHECKPOINT_KEYS = ("fingerprint", "variables", "optimizer", "iteration", "seconds", "history", "rng")


@dataclass
class AttackState:
    """What the loop changes, and a checkpoint holds."""

    variables: list[Tensor]  # the resolution levels (R, N, C, h, w), then the label logits if joint
    optimizer: BatchedAdam | BatchedLBFGS
    history: list[Tensor] = field(default_factory=list)  # the objective per iteration done, (R,) each
    iterations: int = 0  # iterations done
    seconds: float = 0.0  # time spent up to the last save (or before a resume)

    def history_tensor(self) -> Tensor:
        """The objective per iteration and restart, (iterations, R)."""
        if self.history:
            return torch.stack(self.history)
        first = self.variables[0]
        return first.new_empty((0, first.shape[0]))


def fingerprint(problem: AttackProblem) -> dict[str, Any]:
    """What a checkpoint must agree on to be resumed (else it belongs to another attack)."""
    weights = [torch.cat([w[k].reshape(-1) for k in problem.names]) for w in problem.global_weights]
    labels = problem.known_labels
    return {"config": problem.config.to_dict(), "seeds": problem.seeds, "shape": list(problem.image_shape),
            "label_mode": problem.label_mode, "labels": None if labels is None else labels.tolist(),
            "targets": [float(t.double().norm()) for t in problem.targets + weights]}


def read_checkpoint(path: Path, problem: AttackProblem, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint at ``path``, checked against this attack before it is used."""
    state = read_torch(path, "attack checkpoint", map_location=problem.device)

    def refuse(what: str) -> LeaklibError:
        return LeaklibError(f"attack checkpoint {str(path)!r} is not one leaklib wrote ({what}); delete it or "
                            "choose another checkpoint path")

    if not isinstance(state, dict):
        raise refuse(f"a {type(state).__name__}, not a dict")
    missing = [k for k in CHECKPOINT_KEYS if k not in state]
    if missing:
        raise refuse(f"no {', '.join(missing)}")
    if state["fingerprint"] != fingerprint:
        raise LeaklibError(f"checkpoint {str(path)!r} belongs to another attack (config, seeds, labels or "
                           "observation differ); delete it or choose another checkpoint path")
    saved, iteration, history = state["variables"], state["iteration"], state["history"]
    iterations, start = problem.config.iterations, problem.start
    if not (isinstance(saved, (list, tuple)) and len(saved) == len(start)
            and all(isinstance(v, Tensor) and v.shape == w.shape for v, w in zip(saved, start))):
        raise refuse("its variables do not have this attack's shapes")
    if isinstance(iteration, bool) or not isinstance(iteration, int) or not 0 <= iteration <= iterations:
        raise refuse(f"iteration {iteration!r} is not in 0..{iterations}")
    if not isinstance(history, Tensor) or tuple(history.shape) != (iteration, problem.restarts):
        raise refuse(f"its loss history is not ({iteration}, {problem.restarts})")
    if not isinstance(state["rng"], Tensor) or state["rng"].dtype != torch.uint8:
        raise refuse("its random state is not a byte tensor")
    if not isinstance(state["optimizer"], dict) or isinstance(state["seconds"], bool) \
            or not isinstance(state["seconds"], (int, float)):
        raise refuse("its optimizer state or time is not plain values")
    return state


class Checkpoint:
    """Save and resume one attack's state at ``path`` (no path or ``checkpoint_every = 0``: never saves)."""

    def __init__(self, path: str | os.PathLike | None, problem: AttackProblem):
        self.path = Path(path) if path is not None else None
        self.every = problem.config.checkpoint_every
        self.problem = problem
        self.fingerprint = fingerprint(problem)

    def resume(self, state: AttackState) -> None:
        """Load the saved state into ``state`` if the file exists (the random state too)."""
        if self.path is None or not self.path.exists():
            return
        saved = read_checkpoint(self.path, self.problem, self.fingerprint)
        state.variables = list(saved["variables"])
        state.optimizer.load_state_dict(saved["optimizer"])
        state.iterations, state.seconds = int(saved["iteration"]), float(saved["seconds"])
        state.history = list(saved["history"].to(self.problem.device).unbind(0))
        torch.set_rng_state(saved["rng"].cpu())

    def due(self, iteration: int) -> bool:
        """Whether the state after ``iteration`` iterations is saved."""
        return self.path is not None and bool(self.every) and iteration % self.every == 0

    def save(self, state: AttackState, seconds: float) -> None:
        """Write ``state`` atomically, with ``seconds`` spent so far (nothing if checkpoints are off)."""
        if self.path is None or not self.every:
            return
        save_torch({"fingerprint": self.fingerprint, "variables": state.variables,
                    "optimizer": state.optimizer.state_dict(), "iteration": state.iterations, "seconds": seconds,
                    "history": state.history_tensor()[:state.iterations].cpu(), "rng": torch.get_rng_state()}, self.path)
