"""Where one iteration's time goes: leaklib's FedSGD iteration written out step by step, timed phase by phase.

The phases are those of Inverting Gradients' iteration for one restart: the cross-entropy forward, the
parameter gradient with its graph kept, the closed-form gradient of the cosine distance in that gradient,
one backward of it into the images (the double backward) and a signed-Adam step.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from .problem import Problem

PHASES = ("forward", "backward", "objective", "double backward", "optimiser")


def profile_iteration(problem: Problem, *, repeats: int = 5, seed: int = 0,
                      device: torch.device | str = "cpu") -> dict[str, Any]:
    """Median seconds of each phase of one FedSGD iteration on ``device``, written out step by step.

    The same computation as leaklib's iteration for one restart (cross-entropy forward; parameter
    gradient with its graph kept; closed-form gradient of the cosine distance in that gradient; one
    backward of it into the images; a signed-Adam step), timed phase by phase with plain autograd; on a
    GPU each mark waits for the device (:func:`leaklib.runtime.synchronize`).
    """
    import copy

    import torch.nn.functional as F

    from ..attack import pixel_box
    from ..attack.objectives import MatchTarget, distance_and_grad, flatten
    from ..attack.optimizers import make_optimizer
    from ..runtime import synchronize

    device = torch.device(device)
    model = copy.deepcopy(problem.model).to(device).eval()  # the problem's model stays where it is
    names = [n for n, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]
    target = MatchTarget.of(flatten({n: t.to(device) for n, t in problem.observation.tensors.items()}, names))
    labels = problem.labels.to(device)
    lower, upper = pixel_box(problem.normalization, problem.image_shape[0])
    lower, upper = lower.to(device), upper.to(device)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((1, problem.case.num_images, *problem.image_shape), generator=gen).to(device).clamp(lower, upper)
    optimizer = make_optimizer("signed-adam", [x])
    times: dict[str, list[float]] = {k: [] for k in PHASES}

    def mark() -> float:
        synchronize(device)
        return time.perf_counter()

    for _ in range(repeats + 1):  # the first round warms up
        marks = [mark()]
        xr = x.detach().requires_grad_(True)
        loss = F.cross_entropy(model(xr[0]), labels)
        marks.append(mark())
        grads = torch.autograd.grad(loss, params, create_graph=True)
        marks.append(mark())
        flat = torch.cat([g.reshape(1, -1) for g in grads], dim=1)
        _, dflat, scale = distance_and_grad("cosine", flat.detach(), target)
        marks.append(mark())
        (gx,) = torch.autograd.grad(flat, xr, grad_outputs=dflat)
        gx = gx * scale
        marks.append(mark())
        x = optimizer.step([x], [gx], loss.detach()[None], 0.1)[0].clamp(lower, upper)
        marks.append(mark())
        for k, a, b in zip(PHASES, marks, marks[1:]):
            times[k].append(b - a)
    med = {k: statistics.median(v[1:]) for k, v in times.items()}
    total = sum(med.values())
    return {"seconds": med, "total": total, "share": {k: v / total for k, v in med.items()}}
