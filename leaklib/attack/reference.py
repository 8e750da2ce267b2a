"""The Inverting Gradients recipe in plain autograd, the specification the fast engine is tested against.

Geiping et al. 2020, eq. (4), for one FedSGD gradient ``g*`` with known labels ``y``:

    argmin_{x in [0,1]^n}  1 - <g(x, y), g*> / (||g(x, y)|| ||g*||)  +  alpha_TV TV(x)

with ``g(x, y)`` the parameter gradient of the cross-entropy at the dummy images ``x`` (all layers
concatenated), solved by Adam on the sign of the gradient, lr 0.1 divided by 10 at 3/8, 5/8 and 7/8 of the
iterations, and projection to the pixel box after each step (Sec. 4). :func:`~leaklib.attack.invert` with
the default :class:`~leaklib.attack.AttackConfig` computes the same iterates (tests/test_attack_real.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .priors import total_variation


def plain_inverting_gradients(model: nn.Module, gradient: Mapping[str, Tensor], labels: Tensor, lower: Tensor,
                              upper: Tensor, start: Tensor, iterations: int, tv: float) -> tuple[Tensor, list[float]]:
    """Eq. (4) from ``start`` (N, C, H, W) with double backward, sign, Adam and clamping to ``[lower, upper]``;
    returns the images and the objective at each iteration."""
    target = [gradient[n] for n, _ in model.named_parameters()]
    x = start.clone().requires_grad_()
    opt = torch.optim.Adam([x], lr=0.1)
    sched = torch.optim.lr_scheduler.MultiStepLR(
        opt, milestones=[round(iterations * f) for f in (3 / 8, 5 / 8, 7 / 8)], gamma=0.1)
    losses = []
    for _ in range(iterations):
        opt.zero_grad()
        g = torch.autograd.grad(F.cross_entropy(model(x), labels), list(model.parameters()), create_graph=True)
        dot = sum((a * b).sum() for a, b in zip(g, target))
        norms = sum((a * a).sum() for a in g).sqrt() * sum((b * b).sum() for b in target).sqrt()
        loss = 1 - dot / norms + tv * total_variation(x)
        loss.backward()
        x.grad.sign_()
        opt.step()
        sched.step()
        with torch.no_grad():
            x.copy_(torch.max(torch.min(x, upper), lower))
        losses.append(loss.item())
    return x.detach(), losses
