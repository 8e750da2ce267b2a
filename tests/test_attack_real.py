"""The engine against a plain ``torch.autograd`` loop of the Inverting Gradients recipe, on a real image."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from leaklib.attack import AttackConfig, invert, pixel_box, total_variation
from leaklib.data import load_dataset, make_batch
from leaklib.fl import fedsgd_update
from leaklib.models import build


def plain_inverting_gradients(model, gradient, labels, lower, upper, start, iterations, tv):
    """The recipe written directly (Geiping et al. Sec. 4): autograd double backward, sign, Adam, clamp."""
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


def test_engine_follows_a_plain_implementation_of_the_recipe():
    ds = load_dataset("cifar10-sample")
    batch = make_batch(ds, 1, indices=[0])
    model = build("lenet-zhu")
    obs = fedsgd_update(model, batch.images, batch.labels)
    lower, upper = pixel_box(batch.normalization, 3)
    iterations = 16
    res = invert(model, obs, batch.labels, AttackConfig(iterations=iterations, tv=1e-4), image_shape=ds.image_shape,
                 normalization=batch.normalization, restart_seeds=[5], progress=False, device="cpu")
    start = torch.randn((1, 3, 32, 32), generator=torch.Generator().manual_seed(5)).clamp(lower, upper)
    x, losses = plain_inverting_gradients(model, obs.gradient, batch.labels, lower, upper, start, iterations, 1e-4)
    assert torch.allclose(torch.tensor(res.loss_history[0]), torch.tensor(losses), rtol=1e-3)
    # Signs of near-zero gradient entries may differ in float32; nearly all pixels agree.
    assert ((res.images - x).abs() < 1e-4).float().mean() > 0.98
