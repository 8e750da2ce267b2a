"""Optimisers over a leading restart axis: every restart is updated exactly as if it ran alone.

The state lives in tensors of shape (R, ...); all updates are element-wise (Adam) or per-restart
reductions (L-BFGS), written with ``torch._foreach`` ops over the few tensors being optimised.

- ``signed-adam``: Adam on ``sign(grad)`` (Inverting Gradients, Sec. 4, as in adversarial attacks);
- ``adam``: plain Adam (torch's defaults: betas 0.9/0.999, eps 1e-8);
- ``lbfgs``: L-BFGS without line search as in torch.optim.LBFGS and DLG (Zhu et al. 2019), one
  function evaluation per iteration, each restart with its own history and its own stopping test.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ..errors import check_choice
from .config import OPTIMIZERS


class BatchedAdam:
    """Adam (optionally on the sign of the gradient) for tensors with a leading restart axis."""

    def __init__(self, params: list[Tensor], *, signed: bool, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.signed, self.betas, self.eps = signed, betas, eps
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    def step(self, params: list[Tensor], grads: list[Tensor], losses: Tensor, lr: float) -> list[Tensor]:
        if self.signed:
            grads = torch._foreach_sign(grads)
        b1, b2 = self.betas
        self.t += 1
        torch._foreach_lerp_(self.m, grads, 1 - b1)  # m <- b1 m + (1 - b1) g, as one fused op
        torch._foreach_mul_(self.v, b2)
        torch._foreach_addcmul_(self.v, grads, grads, value=1 - b2)
        bc1, bc2 = 1 - b1**self.t, 1 - b2**self.t
        denom = torch._foreach_sqrt(self.v)
        torch._foreach_div_(denom, math.sqrt(bc2))
        torch._foreach_add_(denom, self.eps)
        params = [p.clone() for p in params]
        torch._foreach_addcdiv_(params, self.m, denom, value=-lr / bc1)
        return params

    def state_dict(self) -> dict[str, Any]:
        return {"m": self.m, "v": self.v, "t": self.t}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.m, self.v, self.t = list(state["m"]), list(state["v"]), int(state["t"])


class BatchedLBFGS:
    """L-BFGS with fixed step ``lr`` (torch.optim.LBFGS with ``line_search_fn=None``), per restart.

    Histories are (R, m, D) buffers, newest last; a restart whose curvature ``y.s`` is not positive keeps
    its history unchanged, and a restart that meets torch's stopping tests (gradient or step below
    tolerance) stops moving while the others go on.
    """

    def __init__(self, params: list[Tensor], *, history: int = 100, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9):
        r = params[0].shape[0]
        d = sum(p[0].numel() for p in params)
        ref = params[0]
        self.tolerance_grad, self.tolerance_change = tolerance_grad, tolerance_change
        self.s = ref.new_zeros(r, history, d)
        self.y = ref.new_zeros(r, history, d)
        self.rho = ref.new_zeros(r, history)
        self.h_diag = ref.new_ones(r)
        self.prev_grad = ref.new_zeros(r, d)
        self.prev_step = ref.new_zeros(r, d)
        self.prev_loss = ref.new_full((r,), float("nan"))
        self.done = torch.zeros(r, dtype=torch.bool, device=ref.device)
        self.filled = 0  # history slots used by at least one restart (the two-loop skips the rest)
        self.t = 0

    def step(self, params: list[Tensor], grads: list[Tensor], losses: Tensor, lr: float) -> list[Tensor]:
        r = params[0].shape[0]
        g = torch.cat([x.reshape(r, -1) for x in grads], dim=1)
        self.done |= g.abs().amax(dim=1) <= self.tolerance_grad
        if self.t == 0:
            direction = -g
            scale = (1 / g.abs().sum(dim=1)).clamp(max=1.0) * lr  # torch's first step: min(1, 1/|g|_1) * lr
        else:
            yk = g - self.prev_grad
            sk = self.prev_step
            ys = (yk * sk).sum(dim=1)
            push = ys > 1e-10
            if push.any():
                self.filled = min(self.filled + 1, self.s.shape[1])
                keep = push[:, None, None]
                self.s = torch.where(keep, torch.cat([self.s[:, 1:], sk[:, None]], dim=1), self.s)
                self.y = torch.where(keep, torch.cat([self.y[:, 1:], yk[:, None]], dim=1), self.y)
                rho = torch.where(push, 1 / ys.where(push, torch.ones_like(ys)), torch.zeros_like(ys))
                self.rho = torch.where(push[:, None], torch.cat([self.rho[:, 1:], rho[:, None]], dim=1), self.rho)
                self.h_diag = torch.where(push, ys / (yk * yk).sum(dim=1).where(push, torch.ones_like(ys)),
                                          self.h_diag)
            q = -g
            m = self.s.shape[1]
            first = m - self.filled
            alpha = [None] * m
            for i in range(m - 1, first - 1, -1):  # two-loop recursion, newest first (empty slots have rho = 0)
                alpha[i] = self.rho[:, i] * (self.s[:, i] * q).sum(dim=1)
                q = q - alpha[i][:, None] * self.y[:, i]
            direction = q * self.h_diag[:, None]
            for i in range(first, m):
                beta = self.rho[:, i] * (self.y[:, i] * direction).sum(dim=1)
                direction = direction + self.s[:, i] * (alpha[i] - beta)[:, None]
            scale = torch.full_like(self.h_diag, lr)
            self.done |= (losses - self.prev_loss).abs() < self.tolerance_change
        step = direction * scale[:, None]
        self.done |= step.abs().amax(dim=1) <= self.tolerance_change
        step = torch.where(self.done[:, None], torch.zeros_like(step), step)
        step = torch.nan_to_num(step, nan=0.0, posinf=0.0, neginf=0.0)
        self.prev_grad, self.prev_step, self.prev_loss = g, step, losses.detach().clone()
        self.t += 1
        out, offset = [], 0
        for p in params:
            n = p[0].numel()
            out.append(p + step[:, offset:offset + n].reshape(p.shape))
            offset += n
        return out

    def state_dict(self) -> dict[str, Any]:
        keys = ("s", "y", "rho", "h_diag", "prev_grad", "prev_step", "prev_loss", "done", "filled", "t")
        return {k: getattr(self, k) for k in keys}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)


def make_optimizer(name: str, params: list[Tensor], *, lbfgs_history: int = 100) -> BatchedAdam | BatchedLBFGS:
    """The optimiser called ``name`` (one of ``OPTIMIZERS``) for ``params`` with a restart axis."""
    check_choice("optimizer", name, OPTIMIZERS)
    if name == "lbfgs":
        return BatchedLBFGS(params, history=lbfgs_history)
    return BatchedAdam(params, signed=name == "signed-adam")
