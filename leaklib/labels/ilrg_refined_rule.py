"""leaklib's refinement of iLRG, the rule ``ilrg-refined``: class mean features and counts fitted jointly.

iLRG's e_c = dW_c / db_c (rules.py) is the mean of class c's features only when the other images' weights
p_kc are negligible; with K > C or peaked softmax outputs they are not. Model every image of class j by the
mean feature e_j and probability vector P_j = softmax(W e_j + b); then (with the same per-class gradient
mask as ilrg) ``K [dW, db] = (P^T - I) U`` over the present classes, with U_j = n_j (e_j, 1): given P, a
linear system for the class feature sums and, in its last column, the counts.

Alternate: solve for U (least squares), recompute P from e_j = U_j / n_j. Start from the classes iLRG's
first solve counts >= 1/4 (at most K), let P settle for ``warmup`` rounds, drop a class whose count falls
below 1/2, and add greedily the class that most lowers the relative residual of the fit (by half or more)
while fewer than K are present. The true counts give a zero residual when every image of a class has the
same features; on real batches the fit is an approximation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..errors import LeaklibError
from .counts import counts_to_labels, round_counts
from .head import LastLayer, Obs, head_probabilities, last_layer_gradient, num_images_of, probe_head
from .rules import class_probabilities, solve_counts


def _fit_support(
    support: Tensor, P: Tensor, mask: Tensor, emb: Tensor, target: Tensor, layer: LastLayer, head: str,
    iterations: int, K: int, warmup: int = 10,
) -> tuple[Tensor, Tensor, float]:
    """ilrg-refined's alternation on one set of present classes: (counts (C,), final support, residual)."""
    P, mask, emb = P.clone(), mask.clone(), emb.clone()
    W = layer.module.weight.detach().double().cpu()
    b = layer.module.bias.detach().double().cpu()
    n = torch.zeros(P.shape[0], dtype=P.dtype)
    residual = math.inf
    for step in range(iterations):
        m = support.numel()
        A = (P[support] * mask[support]).T.clone()  # (C, m): one image of class j moves the gradient by A[:, j]
        A[support, torch.arange(m)] -= mask[support, support]
        # unknowns U[j] = n_j * (e_j, 1): class feature sums, with the count in the last column
        U = torch.linalg.lstsq(A, target, driver="gelsd").solution
        counts = U[:, -1]
        if m == P.shape[0]:  # every class present: (P^T - I) is singular, so fix the counts by sum n = K
            counts = solve_counts(P, mask, target[:, -1] / K, K, support)[support]
        # Every class present: A's columns sum to zero (rank m - 1), so the class feature sums are free along
        # A's null vector and lstsq's minimum-norm choice of that component is arbitrary; it corrupts e_j and P
        # and the iterations then push one class towards 0. Take the solution closest to the current iterate,
        # U = U0 + argmin ||dU|| s.t. A dU = target - A U0, U0 = counts * (e_j, 1) (at the first step e_j is
        # iLRG's): the same U where A has full column rank, no drift along the null vector where it has not.
        prior = counts[:, None] * torch.cat([emb[support], torch.ones(m, 1, dtype=emb.dtype)], dim=1)
        U = prior + torch.linalg.lstsq(A, target - A @ prior, driver="gelsd").solution
        U[:, -1] = counts
        settled = step >= warmup  # first let P settle on the whole starting support, then drop classes
        if settled and m > 1 and counts.min() < 0.5:  # the class counted lowest, below 1/2, is absent
            support = support[torch.arange(m) != torch.argmin(counts)]
            continue
        residual = float((A @ U - target).norm() / target.norm())
        emb[support] = U[:, :-1] / counts.clamp_min(0.25)[:, None]
        P[support] = head_probabilities(layer, emb[support], head)
        if head == "relu":
            mask[support] = (emb[support] @ W.T + b > 0).double()
        previous, n = n, torch.zeros_like(n).index_put((support,), counts)
        if settled and torch.allclose(n, previous, atol=1e-9):
            break
    return n, support, residual


def ilrg_refined(
    model: nn.Module,
    observation: Obs,
    num_images: int | None = None,
    *,
    image_shape: Sequence[int] | None = None,
    normalization=None,
    iterations: int = 50,
) -> Tensor:
    """leaklib's refinement of iLRG: fit class mean features and counts jointly to the whole last layer.

    Starts from iLRG's first solve and alternates least squares for the class feature sums with the softmax
    on the class means (module docstring), for at most ``iterations`` rounds per set of present classes.
    Same assumptions as ilrg: a bias, softmax outputs (or a ReLU head, masked), K < d.
    """
    K = num_images_of(observation, num_images)
    dW, db, layer = last_layer_gradient(model, observation)
    if db is None:
        raise LeaklibError(
            f"rule 'ilrg-refined' needs the bias gradient but the final layer {layer.weight_name!r} has no bias"
        )
    head = probe_head(model, image_shape, normalization)
    P, mask, ok = class_probabilities(dW, db, layer, head)
    classes = torch.nonzero(ok).flatten()
    first = solve_counts(P, mask, db, K, classes)  # iLRG's first solve, before dropping classes
    order = classes[torch.argsort(first[classes], descending=True)]
    support = order[first[order] >= 0.25][:K]
    if support.numel() == 0:
        support = order[:1]
    emb = torch.zeros_like(dW)
    emb[ok] = dW[ok] / db[ok, None]
    target = K * torch.cat([dW, db[:, None]], dim=1)  # the bias is the weight of a constant feature 1
    n, support, residual = _fit_support(support, P, mask, emb, target, layer, head, iterations, K)
    candidates = order[: 2 * K]
    while support.numel() < K and residual > 1e-9:
        trials = [
            _fit_support(torch.cat([support, c.reshape(1)]), P, mask, emb, target, layer, head, iterations, K)
            for c in candidates if c not in support
        ]
        if not trials:
            break
        best_n, best_support, best_residual = min(trials, key=lambda t: t[2])
        if not best_residual < 0.5 * residual:
            break
        n, support, residual = best_n, best_support, best_residual
    return counts_to_labels(round_counts(n, K))
