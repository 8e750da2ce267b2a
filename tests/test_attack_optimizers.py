"""The batched optimisers against torch's (attack/optimizers.py)."""

from __future__ import annotations

import torch


def test_lbfgs_follows_torch_lbfgs_without_line_search():
    """One evaluation per iteration = torch.optim.LBFGS(max_iter=1, line_search_fn=None) called repeatedly."""
    from leaklib.attack.optimizers import BatchedLBFGS

    g = torch.Generator().manual_seed(0)
    a = torch.randn(12, 8, generator=g, dtype=torch.float64)
    b = torch.randn(12, generator=g, dtype=torch.float64)

    def f(x):
        return ((a @ x - b) ** 2).sum() + 0.1 * (x**4).sum()

    x_ref = torch.zeros(8, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([x_ref], lr=0.5, max_iter=1, history_size=5, line_search_fn=None)

    def closure():
        opt.zero_grad()
        loss = f(x_ref)
        loss.backward()
        return loss

    x = torch.zeros(1, 8, dtype=torch.float64)
    mine = BatchedLBFGS([x], history=5)
    for _ in range(25):
        opt.step(closure)
        xr = x[0].clone().requires_grad_()
        loss = f(xr)
        (gx,) = torch.autograd.grad(loss, xr)
        (x,) = mine.step([x], [gx[None]], loss.detach()[None], 0.5)
    assert torch.allclose(x[0], x_ref.detach(), atol=1e-8)
