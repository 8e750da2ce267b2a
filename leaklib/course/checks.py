"""The autograder's checks of the implement-it exercises: a student's function against leaklib's own on random
inputs. Each ``check_*`` raises :class:`AssertionError` with a message a student can act on, or returns None.

The inputs are drawn from a fixed generator, so a grade does not depend on the run; several draws (and for
the label rules real gradients of small untrained networks) make a lucky constant fail.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..attack.analytic import recover_linear_input
from ..attack.objectives import cosine_distance
from ..attack.priors import total_variation
from ..fl import FedAvg, fedavg_update, fedsgd_update
from ..labels.counts import counts_to_labels, round_counts
from ..labels.head import last_layer_gradient, rule_dummy_statistics
from ..labels.rules import geng, idlg
from ..leakage import above_bar, leakage_scores
from ..metrics import align
from ..models import build

DRAWS = 5  # random inputs per check


def _close(mine: object, theirs: Tensor, what: str, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    if not isinstance(mine, Tensor):
        raise AssertionError(f"{what}: expected a torch.Tensor, got {type(mine).__name__} ({mine!r:.60})")
    mine = mine.detach().to(theirs.dtype)
    if mine.shape != theirs.shape:
        raise AssertionError(f"{what}: expected shape {tuple(theirs.shape)}, got {tuple(mine.shape)}")
    if not torch.allclose(mine, theirs, atol=atol, rtol=rtol):
        err = float((mine - theirs).abs().max())
        raise AssertionError(f"{what}: differs from leaklib's by up to {err:.3g} (e.g. {mine.flatten()[:3].tolist()} "
                             f"instead of {theirs.flatten()[:3].tolist()})")


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(2020)


def check_cosine_distance(student: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Inverting Gradients eq. (4): ``1 - <g, t> / (|g| |t|)`` of two flat gradients."""
    gen = _generator()
    for i in range(DRAWS):
        g, t = torch.randn(500, generator=gen), torch.randn(500, generator=gen)
        if i == 0:
            t = 3.0 * g  # the same direction at another length: distance 0 (a Euclidean distance is not)
        _close(student(g.clone(), t.clone()), cosine_distance(g, t), f"cosine_distance on draw {i}")


def check_total_variation(student: Callable[[Tensor], Tensor]) -> None:
    """Anisotropic total variation: mean absolute vertical plus mean absolute horizontal differences."""
    gen = _generator()
    for i, shape in enumerate([(1, 1, 8, 8), (2, 3, 5, 7), (4, 1, 28, 28)] + [(3, 3, 16, 16)] * (DRAWS - 3)):
        x = torch.rand(*shape, generator=gen)
        _close(student(x.clone()), total_variation(x), f"total_variation on a batch of shape {shape} (draw {i})")


def _lenet_update(seed: int, labels: list[int], fedavg: bool = False) -> tuple[torch.nn.Module, object]:
    gen = torch.Generator().manual_seed(seed)
    model = build("lenet-zhu", num_classes=10, image_shape=(1, 28, 28), seed=seed)
    images = torch.rand(len(labels), 1, 28, 28, generator=gen)
    y = torch.tensor(labels)
    if fedavg:
        return model, fedavg_update(model, images, y, epochs=2, batch_size=2, lr=0.05)
    return model, fedsgd_update(model, images, y)


def check_idlg(student: Callable[[Tensor], int]) -> None:
    """iDLG (Zhao et al. 2020): from the last layer's weight gradient dW (C, F) of one image, its label."""
    for seed in range(DRAWS):
        label = [(3 + 2 * seed) % 10]  # a different class each draw
        model, obs = _lenet_update(seed, label)
        dw, _, _ = last_layer_gradient(model, obs)
        mine, theirs = student(dw.clone()), int(idlg(model, obs)[0])
        if isinstance(mine, Tensor) and mine.numel() == 1:
            mine = int(mine)
        if not isinstance(mine, int) or mine != theirs:
            raise AssertionError(f"idlg_label on draw {seed}: returned {mine!r:.60}, leaklib's iDLG rule {theirs}")


def check_geng_counts(student: Callable[[Tensor, Tensor, float, int], Tensor]) -> None:
    """Geng et al. (2021) eq. (8): ``n_c = K p_c - K S_c / O`` before rounding (S_c: row sums of dW)."""
    for seed in range(DRAWS):
        labels = [seed % 10] * 3 + [(seed + 1) % 10, (seed + 4) % 10]  # one label three times
        model, obs = _lenet_update(seed, labels)
        dw, _, _ = last_layer_gradient(model, obs)
        stats = rule_dummy_statistics(model, len(labels), seed, (1, 28, 28), None, None, "eval")
        mine = student(dw.clone(), stats.mean_softmax.clone(), float(stats.mean_feature_sum), len(labels))
        theirs = len(labels) * stats.mean_softmax - len(labels) * dw.sum(1) / stats.mean_feature_sum
        _close(mine, theirs, f"geng_counts on draw {seed}", atol=1e-4)
        recovered = counts_to_labels(round_counts(mine.detach(), len(labels)))
        expected = geng(model, obs, len(labels), seed=seed, image_shape=(1, 28, 28))
        if not torch.equal(recovered, expected):
            raise AssertionError(f"geng_counts on draw {seed}: rounds to labels {recovered.tolist()}, leaklib's "
                                 f"geng rule to {expected.tolist()}")


def check_pseudo_gradient(student: Callable[[dict[str, Tensor], float, int], dict[str, Tensor]]) -> None:
    """Geng et al.'s FedAvg target: ``(w_0 - w_T) / (lr * steps)`` from the update ``w_T - w_0``."""
    for seed in range(DRAWS):
        _, obs = _lenet_update(seed, [1, 2, 3, 4], fedavg=True)
        assert isinstance(obs, FedAvg)
        mine = student({k: v.clone() for k, v in obs.update.items()}, obs.lr, obs.steps)
        theirs = obs.pseudo_gradient()
        if not isinstance(mine, dict) or set(mine) != set(theirs):
            raise AssertionError(f"pseudo_gradient on draw {seed}: expected a dict with the update's keys "
                                 f"({', '.join(list(theirs)[:3])}, ...)")
        for name in theirs:
            _close(mine[name], theirs[name], f"pseudo_gradient[{name!r}] on draw {seed}")


def check_linear_input(student: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Prop. 3.1: the input of a linear layer with bias from its gradients ``dW`` (out, in) and ``db`` (out,)."""
    gen = _generator()
    for i in range(DRAWS):
        layer = torch.nn.Linear(20, 7)
        x = torch.rand(1, 20, generator=gen)
        loss = torch.nn.functional.cross_entropy(layer(x), torch.tensor([i % 7]))
        dw, db = torch.autograd.grad(loss, [layer.weight, layer.bias])
        theirs = recover_linear_input({"w": dw, "b": db}, "w", "b")
        _close(student(dw.clone(), db.clone()), theirs, f"linear_input on draw {i}", atol=1e-4)
        _close(theirs, x[0], "leaklib's own recovery (report this)", atol=1e-4)


def check_align(student: Callable[[Tensor, Tensor, list[int], list[int]], list[int]]) -> None:
    """Geng et al.'s label-aware alignment: unique labels pair directly, the rest by a PSNR Hungarian match."""
    gen = _generator()
    for i in range(DRAWS):
        true = torch.rand(6, 1, 8, 8, generator=gen)
        order = torch.randperm(6, generator=gen)
        recon = (true[order] + 0.1 * torch.randn(6, 1, 8, 8, generator=gen)).clamp(0, 1)
        true_labels = [0, 0, 1, 2, 3, 3]
        recon_labels = [true_labels[j] for j in order.tolist()]
        if i % 2:
            recon_labels[0] = 9  # a wrongly recovered label: that image joins the Hungarian match
        theirs = align(recon, true, recon_labels, true_labels).tolist()
        mine = student(recon.clone(), true.clone(), list(recon_labels), list(true_labels))
        mine = mine.tolist() if isinstance(mine, Tensor) else mine
        if not isinstance(mine, (list, tuple)) or not all(isinstance(m, int) for m in mine):
            raise AssertionError(f"align_batch on draw {i}: expected a list of {len(theirs)} ints, got {mine!r:.80}")
        if list(mine) != theirs:
            raise AssertionError(f"align on draw {i}: permutation {mine}, leaklib's {theirs}")


def check_several_updates(student: Callable[[list[Tensor], list[Tensor]], Tensor]) -> None:
    """Several updates matched together: the mean of the per-update cosine distances (as the attack averages)."""
    gen = _generator()
    for i in range(DRAWS):
        u = 1 + i % 4
        gs = [torch.randn(300, generator=gen) for _ in range(u)]
        ts = [2.0 * g + torch.randn(300, generator=gen) * (k + 1) for k, g in enumerate(gs)]
        theirs = torch.stack([cosine_distance(g, t) for g, t in zip(gs, ts)]).mean()
        _close(student([g.clone() for g in gs], [t.clone() for t in ts]), theirs,
               f"several_updates_distance with {u} update(s) (draw {i})")


def check_bar(student: Callable[[Tensor, Tensor], list[bool]]) -> None:
    """The calibrated bar: SSIM to the image at least that of the image's own 4 x 4 blur."""
    gen = _generator()
    for i in range(DRAWS):
        coarse = torch.rand(6, 1, 6, 6, generator=gen)  # smooth images with some detail: their blur is a rival
        true = (torch.nn.functional.interpolate(coarse, size=16, mode="bilinear", align_corners=False)
                + 0.15 * torch.rand(6, 1, 16, 16, generator=gen)).clamp(0, 1)
        noise = torch.linspace(0.02, 0.5, 6).view(6, 1, 1, 1)  # from near copies to noise: both sides of the bar
        recon = (true + noise * torch.randn(6, 1, 16, 16, generator=gen)).clamp(0, 1)
        theirs = [above_bar(s) for s in leakage_scores(true, recon)]
        mine = student(recon.clone(), true.clone())
        mine = mine.tolist() if isinstance(mine, Tensor) else mine
        if not isinstance(mine, (list, tuple)) or not all(isinstance(b, bool) for b in mine):
            raise AssertionError(f"above_the_bar on draw {i}: expected a list of {len(theirs)} bools, got {mine!r:.80}")
        if list(mine) != theirs:
            raise AssertionError(f"above_the_bar on draw {i}: {mine}, leaklib's bar {theirs}")
