"""breaching (Geiping et al.'s reference library) on a leaklib :class:`~.problem.Problem`, without downloads.

breaching's model of the same name gets leaklib's weights and buffers (:func:`copy_weights`, checked on a
batch); the server payload and the user's shared data are built directly from the problem, so neither a
dataset nor LPIPS weights are fetched. breaching's current reconstruction is its current candidate (with
several restarts, which run one after another, only its final answer is recorded).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import logging
import time
import warnings
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import LeaklibError
from ..runtime import synchronize
from .problem import Problem, RunRecord, psnr_curve


def breaching_available() -> str | None:
    """breaching's version if it can be imported, else None (the benchmark then runs leaklib alone)."""
    if importlib.util.find_spec("breaching") is None:
        return None
    try:
        with _quiet():
            importlib.import_module("breaching")
    except Exception:  # an install that cannot be imported is as good as none
        return None
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("breaching")
    except PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def _quiet():
    """Silence breaching's prints, hydra's deprecation notes and its log lines."""
    logger = logging.getLogger("breaching")
    level = logger.level
    logger.setLevel(logging.WARNING)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            logger.setLevel(level)


class BreachingRunner:
    """breaching's ``invertinggradients`` attack on a :class:`Problem`, without any download.

    breaching's model of the same name gets leaklib's weights and buffers (same parameter order; the
    outputs are compared on the client's batch); the server payload and the user's shared data are built
    directly from the problem, so neither a dataset nor LPIPS weights are fetched.
    """

    def __init__(self, problem: Problem, device: torch.device | str = "cpu"):
        with _quiet():
            import breaching
            from breaching.cases.models.model_preparation import construct_model
            from omegaconf import OmegaConf
        self.problem, self.breaching, self.device = problem, breaching, torch.device(device)
        norm = problem.normalization
        c, h, w = problem.image_shape
        self.cfg_data = OmegaConf.create({
            "name": problem.dataset, "modality": "vision", "task": "classification",
            "classes": int(problem.model.num_classes), "shape": [c, h, w], "normalize": True,
            "mean": list(norm.mean), "std": list(norm.std)})
        with _quiet():
            model, self.loss_fn = construct_model(problem.model_name, self.cfg_data, pretrained=False)
        self.model = copy_weights(problem.model, model).to(self.device)
        names = [n for n, _ in problem.model.named_parameters()]
        self.update = [problem.observation.tensors[n].detach().to(self.device) for n in names]

    def config(self, iterations: int, restarts: int) -> Any:
        with _quiet():
            return self.breaching.get_attack_config("invertinggradients", overrides=[
                f"optim.max_iterations={iterations}", f"restarts.num_trials={restarts}",
                f"optim.callback={max(iterations, 1)}"])

    def _payload(self) -> tuple[list[dict], list[dict]]:
        p, case = self.problem, self.problem.case
        hyper = None
        if case.local_steps:
            hyper = {"lr": case.local_lr, "steps": case.local_steps, "data_per_step": case.num_images,
                     "labels": [p.labels.to(self.device) for _ in range(case.local_steps)]}
        payload = [{"parameters": [q.detach() for q in self.model.parameters()],
                    "buffers": [b.detach() for b in self.model.buffers()], "metadata": self.cfg_data}]
        shared = [{"gradients": [g.clone() for g in self.update], "buffers": None,
                   "metadata": {"num_data_points": case.num_images, "labels": p.labels.to(self.device),
                                "local_hyperparams": hyper}}]
        return payload, shared

    def _attacker(self, iterations: int, restarts: int, snaps: list | None, every: int, t0: list[float]) -> Any:
        from breaching.attacks.optimization_based_attack import OptimizationBasedAttacker

        class Recording(OptimizationBasedAttacker):
            """breaching's attacker, copying the candidate every ``every`` iterations (first trial only)."""

            def _compute_objective(self, candidate, labels, rec_model, optimizer, shared_data, iteration):
                if snaps is not None and restarts == 1 and iteration % every == 0:
                    snaps.append((time.perf_counter() - t0[0], iteration, candidate.detach().clone()))
                return super()._compute_objective(candidate, labels, rec_model, optimizer, shared_data, iteration)

        setup = {"device": self.device, "dtype": torch.float}
        with _quiet():
            return Recording(self.model, self.loss_fn, self.config(iterations, restarts), setup)

    def run(self, iterations: int, *, seed: int = 0, every: int = 10) -> RunRecord:
        """breaching's attack for ``iterations`` per restart; the torch RNG (its init) seeded with ``seed``."""
        restarts = self.problem.case.restarts
        snaps: list[tuple[float, int, Tensor]] = []
        t0 = [0.0]
        attacker = self._attacker(iterations, restarts, snaps, every, t0)
        payload, shared = self._payload()
        torch.manual_seed(seed)
        with _quiet():
            synchronize(self.device)
            t0[0] = time.perf_counter()
            out, _ = attacker.reconstruct(payload, shared, {}, dryrun=False)
            synchronize(self.device)
            seconds = time.perf_counter() - t0[0]
        snaps.append((seconds, iterations, out["data"].cpu()))
        curve = psnr_curve(self.problem, snaps)
        return RunRecord("breaching", "iterations", iterations * restarts, seconds, curve[-1][2], seed, curve)

    def iteration_flops(self) -> float:
        """FLOPs of one breaching iteration (counted runs of 2 and 1 iterations, differenced)."""
        from torch.utils.flop_counter import FlopCounterMode

        counts = []
        for its in (1, 2):
            attacker = self._attacker(its, 1, None, 1, [0.0])
            payload, shared = self._payload()
            with FlopCounterMode(display=False) as counter, _quiet():
                attacker.reconstruct(payload, shared, {}, dryrun=False)
            counts.append(counter.get_total_flops())
        return float(counts[1] - counts[0])


def copy_weights(source: nn.Module, target: nn.Module, *, atol: float = 1e-5) -> nn.Module:
    """Copy ``source``'s parameters and buffers into ``target`` by position; check equal outputs."""
    sp, tp = list(source.parameters()), list(target.parameters())
    sb, tb = list(source.buffers()), list(target.buffers())
    shapes = [(a.shape, b.shape) for a, b in zip(sp + sb, tp + tb)]
    if len(sp) != len(tp) or len(sb) != len(tb) or any(a != b for a, b in shapes):
        raise LeaklibError(f"breaching's model does not match leaklib's parameter for parameter "
                           f"({len(sp)}/{len(sb)} vs {len(tp)}/{len(tb)} parameters/buffers); benchmark another model")
    with torch.no_grad():
        for a, b in zip(sp + sb, tp + tb):
            b.copy_(a)
    target.eval()
    source_mode = source.training
    source.eval()
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        gap = float((source(x) - target(x)).abs().max())
    source.train(source_mode)
    if not gap <= atol:
        raise LeaklibError(f"breaching's model differs from leaklib's after copying the weights (max output "
                           f"difference {gap:.2e}); the architectures are not the same")
    return target
