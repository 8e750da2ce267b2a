"""The attack loop: R restarts optimised together as one batched computation, with checkpoints.

Each restart's simulated update is a function of its own dummy batch; ``torch.func.vmap`` maps it over a
leading restart axis while the model's parameters are shared, so R restarts cost one batched
forward/backward/double-backward instead of R (one restart runs without vmap). The matching loss's
gradient in the simulated update is taken in closed form and pulled back to the images in one backward
pass (``grad_outputs``); the priors are differentiated as usual. Restart r draws
its start from its own seed (:func:`~leaklib.attack.inits.restart_seed`), so the batched run equals R
single runs up to float rounding. The best restart is the one with the lowest final matching loss
(Inverting Gradients, Sec. 4).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from ..errors import LeaklibError, check_positive, check_seed
from ..fl import (
    Observation,
    as_observations,
    bn_mode,
    check_observation,
    parameter_gradient,
    parameter_gradient_graph,
    split_state,
)
from ..fl.client import check_labels, model_classes
from ..io import read_torch, save_torch
from ..runtime import resolve_device
from .config import AttackConfig
from .fedavg import observed_target, simulate
from .inits import init_images, restart_seed
from .objectives import MatchTarget, distance_and_grad, element_weights
from .optimizers import make_optimizer
from .priors import BatchNormStats, box_distance, l2_norm, total_variation
from .pyramid import project, start_levels, synthesize
from .result import AttackResult

LABEL_MODES = ("known LongTensor", "'joint'")


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


def _fingerprint(config: AttackConfig, seeds: list[int], shape: tuple, label_mode: str, labels: Tensor | None,
                 targets: list[Tensor]) -> dict[str, Any]:
    """What a checkpoint must agree on to be resumed (else it belongs to another attack)."""
    return {"config": config.to_dict(), "seeds": seeds, "shape": list(shape), "label_mode": label_mode,
            "labels": None if labels is None else labels.tolist(),
            "targets": [float(t.double().norm()) for t in targets]}


CHECKPOINT_KEYS = ("fingerprint", "variables", "optimizer", "iteration", "seconds", "history", "rng")


def _read_checkpoint(path: Path, device: torch.device, fingerprint: dict[str, Any], variables: list[Tensor],
                     iterations: int, restarts: int) -> dict[str, Any]:
    """An attack checkpoint, read with ``weights_only=True`` (it holds tensors, numbers, strings, lists and
    dicts only, so a planted file cannot run code) and checked against this attack before it is used."""
    state = read_torch(path, "attack checkpoint", map_location=device)

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
    saved, it, history = state["variables"], state["iteration"], state["history"]
    if not (isinstance(saved, (list, tuple)) and len(saved) == len(variables)
            and all(isinstance(v, Tensor) and v.shape == w.shape for v, w in zip(saved, variables))):
        raise refuse("its variables do not have this attack's shapes")
    if isinstance(it, bool) or not isinstance(it, int) or not 0 <= it <= iterations:
        raise refuse(f"iteration {it!r} is not in 0..{iterations}")
    if not isinstance(history, Tensor) or tuple(history.shape) != (it, restarts):
        raise refuse(f"its loss history is not ({it}, {restarts})")
    if not isinstance(state["rng"], Tensor) or state["rng"].dtype != torch.uint8:
        raise refuse("its random state is not a byte tensor")
    if not isinstance(state["optimizer"], dict) or isinstance(state["seconds"], bool) \
            or not isinstance(state["seconds"], (int, float)):
        raise refuse("its optimizer state or time is not plain values")
    return state


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

    ``observation``: a FedSGD, a FedAvg or a list of them (updates of the same batch, matched jointly:
    their objectives are averaged); each is simulated at its own ``weights`` when it carries them (e.g.
    successive rounds), else at the model's weights. ``labels``: the known or recovered labels
    (LongTensor, one per image) or ``"joint"`` (soft labels optimised with the images, DLG).
    ``normalization``: mean/std of the model's input, which fix the pixel box. Restart r starts from seed
    ``restart_seeds[r]`` (default ``seed * 1000 + r``). With ``checkpoint_path`` and
    ``config.checkpoint_every``, the state is saved atomically and an existing checkpoint is resumed.
    ``callback(iteration, losses)`` runs after each iteration (e.g. to stop a run);
    ``monitor(iteration, losses, images)`` every ``monitor_every`` iterations gets the restarts' current
    images (R, N, C, H, W) and the objectives they were stepped from (e.g. to score a run along the way).
    With ``config.time_budget`` the attack stops when the budget is spent (``result.iterations`` says
    how far it got) and the step schedule follows the fraction of the time used.
    """
    config = (config or AttackConfig()).validate()
    observations = as_observations(observation)
    for obs in observations:
        check_observation(model, obs)
    n = observations[0].num_images
    if num_images is not None and num_images != n:
        raise LeaklibError(f"num_images={num_images} but the observation is of {n} images")
    shape = _check_shape(image_shape)
    check_seed("seed", seed)
    seeds = [restart_seed(seed, r) for r in range(config.restarts)] if restart_seeds is None else list(restart_seeds)
    if len(seeds) != config.restarts:
        raise LeaklibError(f"restart_seeds has {len(seeds)} entries for {config.restarts} restarts")
    for s in seeds:
        check_seed("each of restart_seeds", s, limit=2**64)  # what torch.Generator.manual_seed takes
    check_positive("monitor_every", monitor_every)
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
    at = [params if o.weights is None else {k: o.weights[k].to(dev, torch.float32) for k in names}
          for o in observations]  # the global weights each observation was computed at
    weights = element_weights(names, [params[k].shape for k in names], config.layer_weights, dev)
    matches = [MatchTarget.of(t, weights) for t in targets]
    train_bn = config.bn_mode == "train"
    bn_stats = BatchNormStats(model)
    if config.bn_prior > 0 and not bn_stats.layers:
        raise LeaklibError("bn_prior > 0 needs a model with batch-norm layers; this one has none")

    def simulated(x: Tensor, label_var: Tensor | None, bufs: dict, gradient: Callable = parameter_gradient
                  ) -> list[Tensor]:
        """One restart's counterparts of the observations (flat vectors), differentiable in its images."""
        y = known if label_var is None else F.softmax(label_var, dim=-1)
        return [simulate(o, config.fedavg, model, w, {k: v.clone() for k, v in bufs.items()}
                         if train_bn else bufs, x, y, names, gradient) for o, w in zip(observations, at)]

    def prior(x: Tensor, bufs: dict) -> Tensor:
        """One restart's weighted image priors."""
        total = x.new_zeros(())
        if config.tv > 0:
            total = total + config.tv * total_variation(x)
        if config.l2 > 0:
            total = total + config.l2 * l2_norm(x)
        if config.box_prior > 0:
            total = total + config.box_prior * box_distance(x, lower, upper)
        if config.bn_prior > 0:
            bn_stats.recording = True
            functional_call(model, (params, {k: v.clone() for k, v in bufs.items()}), (x,))
            bn_stats.recording = False
            total = total + config.bn_prior * bn_stats.penalty(buffers)
        return total

    joint = label_mode == "joint"
    scales = config.scales  # the images are the first ``scales`` variables (pyramid.py)
    r_count = config.restarts
    has_prior = config.tv > 0 or config.l2 > 0 or config.box_prior > 0 or config.bn_prior > 0
    bufs_in = {k: v.expand(r_count, *v.shape) for k, v in buffers.items()} if train_bn else buffers
    vmapped_sim = vmap(simulated, in_dims=(0, 0 if joint else None, 0 if train_bn else None))
    vmapped_prior = vmap(prior, in_dims=(0, 0 if train_bn else None))

    def sim_fn(x: Tensor, lv: Tensor | None, bufs: dict) -> list[Tensor]:
        """Restarts batched with vmap; a single restart without any vmap layer."""
        if x.shape[0] > 1:
            return vmapped_sim(x, lv, bufs)
        one = {k: v[0] for k, v in bufs.items()} if train_bn else bufs
        return [s[None] for s in simulated(x[0], None if lv is None else lv[0], one, parameter_gradient_graph)]

    def prior_fn(x: Tensor, bufs: dict) -> Tensor:
        if x.shape[0] > 1:
            return vmapped_prior(x, bufs)
        return prior(x[0], {k: v[0] for k, v in bufs.items()} if train_bn else bufs)[None]

    def evaluate_slice(variables: list[Tensor], bufs: dict, need_grad: bool = True
                       ) -> tuple[list[Tensor], Tensor, Tensor]:
        """Objective per restart and its gradient in the variables.

        The matching term's gradient in the simulated update comes in closed form
        (:func:`distance_and_grad`) and is pulled back to the images in one backward pass with it as
        ``grad_outputs`` (the double backward through the model); the priors are differentiated as usual.
        """
        inputs = [v.detach().requires_grad_(need_grad) for v in variables]
        x, lv = synthesize(inputs[:scales]), (inputs[scales] if joint else None)
        with torch.set_grad_enabled(need_grad):
            sims = sim_fn(x, lv, bufs)
            parts = [distance_and_grad(config.objective, s.detach(), m) for s, m in zip(sims, matches)]
            matching = torch.stack([value for value, _, _ in parts]).mean(0)
            outs = list(sims)
            if len(parts) == 1:  # back-propagate the direction; the per-restart scale goes on the images' gradient
                scale, grad_outs = parts[0][2], [parts[0][1]]
            else:
                scale = torch.ones_like(matching)
                grad_outs = [d * (s / len(parts))[:, None] for _, d, s in parts]
            total = matching
            if has_prior:
                prior_values = prior_fn(x, bufs)
                total = matching + prior_values.detach()
                outs.append(prior_values)
                grad_outs.append(1 / scale)
        if not need_grad:
            return [], total, matching
        grads = torch.autograd.grad(outs, inputs, grad_outputs=grad_outs, allow_unused=True)
        return [torch.zeros_like(v) if g is None else g * scale.view(-1, *([1] * (v.ndim - 1)))
                for g, v in zip(grads, inputs)], total, matching

    def evaluate(variables: list[Tensor], need_grad: bool = True) -> tuple[list[Tensor], Tensor, Tensor]:
        if config.batched or r_count == 1:
            return evaluate_slice(variables, bufs_in, need_grad)
        # One restart at a time (same function, restart axis of length 1). On CPU, vmap's batched double
        # backward through convolutions loses float32 accuracy (about 5% of the largest entry of d loss/dx on
        # ResNet20-4 at R=4 against float64, 0.2% at R=1), so sign-Adam trajectories drift apart.
        parts = [evaluate_slice([v[r:r + 1] for v in variables],
                                {k: b[r:r + 1] for k, b in bufs_in.items()} if train_bn else bufs_in, need_grad)
                 for r in range(r_count)]
        grads = [torch.cat([p[0][i] for p in parts]) for i in range(len(variables))] if need_grad else []
        return grads, torch.cat([p[1] for p in parts]), torch.cat([p[2] for p in parts])

    # Initial state: restart r from its own generator (CPU, so that CPU and CUDA start alike).
    starts, label_starts = [], []
    for s in seeds:
        g = torch.Generator().manual_seed(s)
        starts.append(init_images(config.init, (n, *shape), g, patch_size=config.patch_size,
                                  lower=lower, upper=upper))
        if joint:
            label_starts.append(torch.randn((n, num_classes), generator=g))
    variables = start_levels(torch.stack(starts).to(dev), scales) + ([torch.stack(label_starts).to(dev)] if joint else [])
    if config.boxed:
        variables[:scales] = project(variables[:scales], lower, upper)
    optimizer = make_optimizer(config.optimizer, variables, lbfgs_history=config.lbfgs_history)
    rows: list[Tensor] = []  # the objective per iteration, (R,) each: grows with the iterations run
    fingerprint = _fingerprint(config, seeds, shape, label_mode, known,
                               targets + [torch.cat([w[k].reshape(-1) for k in names]) for w in at])
    start, seconds_before = 0, 0.0
    path = Path(checkpoint_path) if checkpoint_path is not None else None
    if path is not None and path.exists():
        state = _read_checkpoint(path, dev, fingerprint, variables, config.iterations, r_count)
        variables = list(state["variables"])
        optimizer.load_state_dict(state["optimizer"])
        start, seconds_before = int(state["iteration"]), float(state["seconds"])
        rows = list(state["history"].to(dev).unbind(0))
        torch.set_rng_state(state["rng"].cpu())

    def history_tensor() -> Tensor:
        return torch.stack(rows) if rows else torch.empty((0, r_count), device=dev)

    def save(iteration: int, seconds: float) -> None:
        save_torch({"fingerprint": fingerprint, "variables": variables, "optimizer": optimizer.state_dict(),
                    "iteration": iteration, "seconds": seconds, "history": history_tensor()[:iteration].cpu(),
                    "rng": torch.get_rng_state()}, path)

    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    done = start
    with bn_mode(model, config.bn_mode), bn_stats, \
            tqdm(total=config.iterations, initial=start, disable=not progress, desc="attack") as bar:
        for it in range(start, config.iterations):
            used = 0.0
            if config.time_budget:  # the schedule follows the larger of the iteration and time fractions used
                used = (seconds_before + time.perf_counter() - t0) / config.time_budget
                if used >= 1:
                    break
            lr = config.learning_rate(it, used)
            grads, total, _ = evaluate(variables)
            rows.append(total.detach().clone())
            variables = optimizer.step([v.detach() for v in variables], grads, total, lr)
            if config.boxed:
                variables[:scales] = project(variables[:scales], lower, upper)
            done = it + 1
            if path is not None and config.checkpoint_every and done % config.checkpoint_every == 0:
                save(done, seconds_before + time.perf_counter() - t0)
            if progress and (done % 10 == 0 or done == config.iterations):
                bar.set_postfix(loss=f"{float(total.min()):.4g}", refresh=False)
            bar.update(1)
            if monitor is not None and done % monitor_every == 0:
                monitor(done, total, synthesize(variables[:scales]).detach())
            if callback is not None:
                callback(done, total)
        _, final_total, final_matching = evaluate(variables, need_grad=False)
    seconds = seconds_before + time.perf_counter() - t0
    history = history_tensor()[:done]
    if path is not None and config.checkpoint_every:
        save(done, seconds)

    restart_losses = [float(v) for v in final_matching.detach().cpu()]
    ranking = [v if v == v else float("inf") for v in restart_losses]
    best = min(range(r_count), key=lambda r: ranking[r])
    images = synthesize(variables[:scales])[best].detach().cpu()
    used = known.cpu() if known is not None else variables[scales][best].detach().argmax(dim=-1).cpu()
    return AttackResult(
        images=images, labels=used, config=config,
        loss_history=history.cpu().T.tolist(), restart_losses=restart_losses,
        restart_objectives=[float(v) for v in final_total.detach().cpu()], best_restart=best, seeds=seeds,
        seconds=seconds, iterations=done, device=str(dev), label_mode=label_mode,
        extra={"resumed_from": start} if start else {},
    )
