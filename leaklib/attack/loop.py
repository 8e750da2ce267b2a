"""The attack: :func:`invert` = :func:`~leaklib.attack.problem.prepare`, then :func:`optimize` steps the
variables along :func:`objective_and_grad`, then the restart with the lowest final matching loss wins
(Inverting Gradients, Sec. 4).

The R restarts are optimised together as one batched computation. Each restart's simulated update is a
function of its own dummy batch; ``torch.func.vmap`` maps it over a leading restart axis while the model's
parameters are shared, so R restarts cost one batched forward/backward/double-backward instead of R (one
restart runs without vmap). Restart r starts from its own seed, so the batched run equals R single runs up
to float rounding. The matching loss's gradient in the simulated update is taken in closed form
(:mod:`~leaklib.attack.objectives`) and pulled back to the images in one backward pass (``grad_outputs``,
the double backward through the model); the priors are differentiated as usual.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from ..errors import check_positive
from ..fl import Observation, bn_mode, parameter_gradient, parameter_gradient_graph
from .checkpoint import AttackState, Checkpoint
from .config import AttackConfig
from .fedavg import simulate
from .objectives import distance_and_grad
from .optimizers import make_optimizer
from .priors import box_distance, l2_norm, total_variation
from .problem import AttackProblem, pixel_box, prepare
from .pyramid import project, synthesize
from .result import AttackResult

__all__ = ["AttackProblem", "invert", "objective_and_grad", "optimize", "pixel_box", "prepare"]


# ---------------------------------------------------------------- the objective of one restart

def simulated_updates(problem: AttackProblem, images: Tensor, label_logits: Tensor | None,
                      buffers: dict[str, Tensor], gradient: Callable = parameter_gradient) -> list[Tensor]:
    """One restart's counterparts of the observations (flat vectors), differentiable in its images."""
    labels = problem.known_labels if label_logits is None else F.softmax(label_logits, dim=-1)
    # Train-mode batch norm writes its running statistics: each observation gets its own copy.
    return [simulate(o, problem.config.fedavg, problem.model, weights,
                     {k: v.clone() for k, v in buffers.items()} if problem.train_bn else buffers,
                     images, labels, problem.names, gradient)
            for o, weights in zip(problem.observations, problem.global_weights)]


def image_prior(problem: AttackProblem, images: Tensor, buffers: dict[str, Tensor]) -> Tensor:
    """One restart's weighted priors: ``tv TV(x) + l2 |x|^2 + box_prior box(x) + bn_prior BN(x)``."""
    config, total = problem.config, images.new_zeros(())
    if config.tv > 0:
        total = total + config.tv * total_variation(images)
    if config.l2 > 0:
        total = total + config.l2 * l2_norm(images)
    if config.box_prior > 0:
        total = total + config.box_prior * box_distance(images, problem.lower, problem.upper)
    if config.bn_prior > 0:
        problem.bn_stats.recording = True  # record the batch-norm inputs of this forward pass only
        functional_call(problem.model, (problem.params, {k: v.clone() for k, v in buffers.items()}), (images,))
        problem.bn_stats.recording = False
        total = total + config.bn_prior * problem.bn_stats.penalty(problem.buffers)
    return total


# ---------------------------------------------------------------- every restart: the objective and its gradient

@cache
def _over_restarts(fn: Callable, in_dims: tuple[int | None, ...]) -> Callable:
    """``fn`` mapped over the restart axis with vmap, built once per ``in_dims`` (a new vmap costs ~15 us)."""
    return vmap(fn, in_dims=in_dims)


def _simulated_restarts(problem: AttackProblem, images: Tensor, label_logits: Tensor | None,
                        buffers: dict[str, Tensor]) -> list[Tensor]:
    """:func:`simulated_updates` of every restart: batched with vmap, a single restart without any vmap layer."""
    if images.shape[0] > 1:
        in_dims = (None, 0, 0 if problem.joint else None, 0 if problem.train_bn else None)
        return _over_restarts(simulated_updates, in_dims)(problem, images, label_logits, buffers)
    # One restart: no vmap layer, so the faster gradient that keeps torch's autograd graph can be used.
    one = {k: v[0] for k, v in buffers.items()} if problem.train_bn else buffers
    logits = None if label_logits is None else label_logits[0]
    return [s[None] for s in simulated_updates(problem, images[0], logits, one, parameter_gradient_graph)]


def _prior_restarts(problem: AttackProblem, images: Tensor, buffers: dict[str, Tensor]) -> Tensor:
    """:func:`image_prior` of every restart, (R,)."""
    if images.shape[0] > 1:
        return _over_restarts(image_prior, (None, 0, 0 if problem.train_bn else None))(problem, images, buffers)
    one = {k: v[0] for k, v in buffers.items()} if problem.train_bn else buffers
    return image_prior(problem, images[0], one)[None]


def objective_and_grad(problem: AttackProblem, variables: list[Tensor], *, need_grad: bool = True,
                       buffers: dict[str, Tensor] | None = None) -> tuple[list[Tensor], Tensor, Tensor]:
    """Each restart's objective ``d(g(x, y), g*) + priors(x)`` (IG eq. 4) as ``(its gradients in variables,
    objective (R,), matching loss (R,))``; no gradients (``[]``) with ``need_grad=False``. ``buffers``: the
    restarts' own (default: ``problem.restart_buffers``)."""
    if not problem.config.batched and variables[0].shape[0] > 1:
        return _one_restart_at_a_time(problem, variables, need_grad)
    buffers = problem.restart_buffers if buffers is None else buffers
    scales = problem.scales
    inputs = [v.detach().requires_grad_(need_grad) for v in variables]
    images, label_logits = synthesize(inputs[:scales]), (inputs[scales] if problem.joint else None)
    with torch.set_grad_enabled(need_grad):
        simulated = _simulated_restarts(problem, images, label_logits, buffers)
        objective = problem.config.objective
        parts = [distance_and_grad(objective, s.detach(), m) for s, m in zip(simulated, problem.matches)]
        matching = torch.stack([value for value, _, _ in parts]).mean(0)
        outputs = list(simulated)
        # The trick: d/dg [1 - <g,t>/(|g||t|)] = (1/|g|) (<g,t>/(|g|^2 |t|) g - t/|t|) in closed form; only the
        # direction is back-propagated (grad_outputs), the per-restart scale 1/|g| multiplies the images' gradient.
        if len(parts) == 1:
            scale, grad_outputs = parts[0][2], [parts[0][1]]
        else:
            scale = torch.ones_like(matching)
            grad_outputs = [direction * (s / len(parts))[:, None] for _, direction, s in parts]
        total = matching
        if problem.has_prior:
            prior = _prior_restarts(problem, images, buffers)
            total = matching + prior.detach()
            outputs.append(prior)
            grad_outputs.append(1 / scale)  # undone by the scale applied below
    if not need_grad:
        return [], total, matching
    grads = torch.autograd.grad(outputs, inputs, grad_outputs=grad_outputs, allow_unused=True)
    return [torch.zeros_like(v) if g is None else g * scale.view(-1, *([1] * (v.ndim - 1)))
            for g, v in zip(grads, inputs)], total, matching


def _one_restart_at_a_time(problem: AttackProblem, variables: list[Tensor], need_grad: bool
                           ) -> tuple[list[Tensor], Tensor, Tensor]:
    """:func:`objective_and_grad` restart by restart (``batched=False``), each with a restart axis of length 1.

    On CPU, vmap's batched double backward through convolutions loses float32 accuracy (about 5% of the
    largest entry of d loss/dx on ResNet20-4 at R=4 against float64, 0.2% at R=1), so sign-Adam
    trajectories drift apart; one at a time reproduces single-restart runs bit for bit.
    """
    parts = []
    for r in range(variables[0].shape[0]):
        buffers = problem.restart_buffers
        if problem.train_bn:
            buffers = {k: b[r:r + 1] for k, b in buffers.items()}
        parts.append(objective_and_grad(problem, [v[r:r + 1] for v in variables], need_grad=need_grad,
                                        buffers=buffers))
    grads = [torch.cat([p[0][i] for p in parts]) for i in range(len(variables))] if need_grad else []
    return grads, torch.cat([p[1] for p in parts]), torch.cat([p[2] for p in parts])


# ---------------------------------------------------------------- the loop

def optimize(problem: AttackProblem, state: AttackState, checkpoint: Checkpoint, *, progress: bool = False,
             callback: Callable[[int, Tensor], None] | None = None,
             monitor: Callable[[int, Tensor, Tensor], None] | None = None,
             monitor_every: int = 10) -> tuple[Tensor, Tensor]:
    """Step ``state`` to ``config.iterations`` (or the end of the time budget); returns the final objective
    and matching loss per restart."""
    from tqdm.auto import tqdm

    config, scales = problem.config, problem.scales
    t0, seconds_before = time.perf_counter(), state.seconds

    def elapsed() -> float:
        return seconds_before + time.perf_counter() - t0

    with bn_mode(problem.model, config.bn_mode), problem.bn_stats, \
            tqdm(total=config.iterations, initial=state.iterations, disable=not progress, desc="attack") as bar:
        for iteration in range(state.iterations, config.iterations):
            time_used = 0.0  # fraction of the time budget spent
            if config.time_budget:  # the schedule follows the larger of the iteration and time fractions used
                time_used = elapsed() / config.time_budget
                if time_used >= 1:
                    break
            lr = config.learning_rate(iteration, time_used)
            grads, total, _ = objective_and_grad(problem, state.variables)
            state.history.append(total.detach().clone())
            state.variables = state.optimizer.step([v.detach() for v in state.variables], grads, total, lr)
            if config.boxed:
                state.variables[:scales] = project(state.variables[:scales], problem.lower, problem.upper)
            state.iterations = done = iteration + 1
            if checkpoint.due(done):
                checkpoint.save(state, elapsed())
            if progress and (done % 10 == 0 or done == config.iterations):
                bar.set_postfix(loss=f"{float(total.min()):.4g}", refresh=False)
            bar.update(1)
            if monitor is not None and done % monitor_every == 0:
                monitor(done, total, synthesize(state.variables[:scales]).detach())
            if callback is not None:
                callback(done, total)
        _, final_total, final_matching = objective_and_grad(problem, state.variables, need_grad=False)
    state.seconds = elapsed()
    checkpoint.save(state, state.seconds)
    return final_total, final_matching


def _result(problem: AttackProblem, state: AttackState, final_total: Tensor, final_matching: Tensor,
            resumed_from: int) -> AttackResult:
    """The restart with the lowest final matching loss (a NaN loss never wins)."""
    restart_losses = [float(v) for v in final_matching.detach().cpu()]
    ranking = [float("inf") if math.isnan(v) else v for v in restart_losses]
    best = min(range(problem.restarts), key=lambda r: ranking[r])
    images = synthesize(state.variables[:problem.scales])[best].detach().cpu()
    if problem.known_labels is not None:
        labels = problem.known_labels.cpu()
    else:
        labels = state.variables[problem.scales][best].detach().argmax(dim=-1).cpu()
    return AttackResult(
        images=images, labels=labels, config=problem.config,
        loss_history=state.history_tensor()[:state.iterations].cpu().T.tolist(), restart_losses=restart_losses,
        restart_objectives=[float(v) for v in final_total.detach().cpu()], best_restart=best, seeds=problem.seeds,
        seconds=state.seconds, iterations=state.iterations, device=str(problem.device), label_mode=problem.label_mode,
        extra={"resumed_from": resumed_from} if resumed_from else {},
    )


def invert(
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
    progress: bool = True,
    checkpoint_path: str | os.PathLike | None = None,
    restart_seeds: Sequence[int] | None = None,
    callback: Callable[[int, Tensor], None] | None = None,
    monitor: Callable[[int, Tensor, Tensor], None] | None = None,
    monitor_every: int = 10,
) -> AttackResult:
    """Reconstruct the client's images from what the server observed (Inverting Gradients, eq. 4).

    ``observation``: a FedSGD, a FedAvg or a list of them (matched jointly, objectives averaged), each
    simulated at its own ``weights`` if it carries them, else at the model's. ``labels``: a LongTensor (one
    per image) or ``"joint"`` (optimised with the images, DLG). ``normalization`` (mean/std) fixes the pixel
    box. Restart r starts from seed ``restart_seeds[r]`` (default ``seed * 1000 + r``). ``checkpoint_path``
    with ``config.checkpoint_every``: saved atomically, resumed if it exists. ``callback(iteration, losses)``
    after each iteration; ``monitor(iteration, losses, images)`` every ``monitor_every`` with the restarts'
    images (R, N, C, H, W) and the objectives they were stepped from. ``config.time_budget``: stop when
    spent (``result.iterations`` says where), the lr schedule following the fraction of time used.
    """
    check_positive("monitor_every", monitor_every)
    problem = prepare(model, observation, labels, config, image_shape=image_shape, num_images=num_images,
                      normalization=normalization, device=device, seed=seed, restart_seeds=restart_seeds)
    optimizer = make_optimizer(problem.config.optimizer, problem.start, lbfgs_history=problem.config.lbfgs_history)
    state = AttackState(list(problem.start), optimizer)
    checkpoint = Checkpoint(checkpoint_path, problem)
    checkpoint.resume(state)
    resumed_from = state.iterations
    final_total, final_matching = optimize(problem, state, checkpoint, progress=progress, callback=callback,
                                           monitor=monitor, monitor_every=monitor_every)
    return _result(problem, state, final_total, final_matching, resumed_from)
