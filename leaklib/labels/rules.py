"""Label-recovery rules: each reads the last linear layer's gradient and returns the K labels, sorted.

Notation (head.py): C classes, K images, dW (C x d) and db (C) the gradient of the final layer
z = W h + b for the mean loss over the batch, row sums S_c = sum_j dW[c, j], n_c the count of label c.
With softmax cross-entropy, ``S_c = (1/K) sum_k (p_kc - y_kc) ||h_k||_1`` for non-negative h (Geng et al.
2021, Eq. 5) and ``db_c = (1/K) sum_k (p_kc - y_kc)``.

A ReLU after the final layer (the Keras CIFAR CNN: logits >= 0) multiplies the per-sample gradient of
class c by 1[z_kc > 0]. Classes the model rejects (negative logit) then contribute nothing: the sign rules
(``idlg``, ``analytic``, ``yin``, ``llg``) keep working as long as each true class has a positive logit,
but the count rules (``geng``, ``ilrg``, ``bias``) see too little positive mass from the absent classes and
mis-estimate counts; the rules warn when they detect such a head on dummy inputs (ilrg and ilrg-refined
model the mask instead). On a *trained*, confident model every count rule degrades for a deeper reason:
the per-image signal 1 - p_k,y varies by orders of magnitude between images, so the last layer alone no
longer fixes the counts (measured on the trained Keras CNN: only ``yin`` stays accurate, on distinct labels).

``peel`` reads more than the last layer: where the final layer is fed by ReLU(linear) (the Keras CNN, MLPs) it
recovers each image's features from the layer before (Prop. 3.1 per private unit), reads that image's label
exactly and subtracts it; this works on trained, confident models. Where it cannot (ResNets' pooled last
layer, FedAvg) it falls back to ``ilrg-refined``, leaklib's rule with the highest accuracy on untrained
networks. ``best`` is an alias of ``peel``.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ..errors import LeaklibError, unknown
from ..fl import FedSGD, Observation, as_observations, split_state
from .head import DummyStatistics, LastLayer, dummy_statistics, head_probabilities, last_layer_gradient, num_images_of

Obs = Observation | Sequence[Observation]


# ----------------------------------------------------------------------------------------------- helpers
def counts_to_labels(counts: Tensor) -> Tensor:
    """Label counts (C,) -> the sorted LongTensor of labels (class c repeated n_c times)."""
    counts = counts.round().long().clamp_min(0)
    return torch.repeat_interleave(torch.arange(counts.numel()), counts)


def labels_to_counts(labels: Tensor | Sequence[int], num_classes: int) -> Tensor:
    """The inverse of :func:`counts_to_labels`: counts (C,) of a label list."""
    return torch.bincount(torch.as_tensor(labels, dtype=torch.long).flatten(), minlength=num_classes)


def round_counts(estimate: Tensor, total: int) -> Tensor:
    """Round real-valued counts to non-negative integers summing to ``total``.

    Round to nearest, then repair the sum one unit at a time at the class whose rounding error is largest
    relative to its estimate (Geng et al.'s code ranks classes by relative rounding error; we measure it as
    ``(estimate - count) / max(estimate, 1)`` so that classes estimated near zero are not picked first).
    """
    est = estimate.detach().double().clamp_min(0)
    counts = est.round()
    scale = est.clamp_min(1.0)
    while counts.sum() < total:
        counts[torch.argmax((est - counts) / scale)] += 1
    while counts.sum() > total:
        err = (counts - est) / scale
        err[counts <= 0] = -math.inf
        counts[torch.argmax(err)] -= 1
    return counts.long()


def _row_sums(dW: Tensor) -> Tensor:
    return dW.sum(1)


def _need_distinct(rule: str, K: int, C: int) -> None:
    if K > C:
        raise LeaklibError(
            f"rule {rule!r} returns distinct labels and cannot serve K={K} images from {C} classes; "
            "use a count rule (llg, geng, ilrg, bias, best)"
        )


def _dummy(model: nn.Module, K: int, seed: int, image_shape, normalization, num_dummy, bn: str) -> DummyStatistics:
    """Dummy-input statistics of Geng et al. (uniform images of the batch's shape)."""
    shape = image_shape if image_shape is not None else getattr(model, "image_shape", None)
    if shape is None:
        raise LeaklibError("this rule feeds dummy images to the model and needs image_shape=(C, H, W)")
    n = K if num_dummy is None else num_dummy
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise LeaklibError(f"num_dummy must be a positive integer, got {num_dummy!r}")
    stats = dummy_statistics(model, tuple(shape), n, seed=seed, normalization=normalization, bn=bn)
    if stats.head != "identity":
        warnings.warn(
            f"the model applies {stats.head!r} to its final linear output (e.g. a ReLU on the logits): "
            "classes with a negative logit send no gradient, so count estimates are biased",
            stacklevel=4,
        )
    return stats


# ------------------------------------------------------------------------------------------------- rules
def idlg(model: nn.Module, observation: Obs, num_images: int | None = None) -> Tensor:
    """iDLG (Zhao et al. 2020): K = 1, the class whose row of dW has a negative sum.

    Assumes one image and non-negative inputs to the final layer (post-ReLU), so S_c = (p_c - y_c)||h||_1
    is negative for the true class only. Picks the most negative row sum. K > 1 is an error.
    """
    K = num_images_of(observation, num_images)
    if K != 1:
        raise LeaklibError(f"rule 'idlg' recovers a single label (K = 1), got K={K}; use a batch rule")
    dW, _, _ = last_layer_gradient(model, observation)
    return torch.argmin(_row_sums(dW)).reshape(1).long()


def analytic(model: nn.Module, observation: Obs, num_images: int | None = None) -> Tensor:
    """Bias rule: the classes with a negative bias gradient db_c = mean_k (p_kc - y_kc) (distinct labels).

    Assumes distinct labels and a final linear layer with bias; db_c < 0 exactly when sum_k p_kc < n_c, which
    holds for every present class while the batch mean of p_c stays below 1/K. Returns the K most negative
    classes (all negatives first), so it needs K <= C.
    """
    K = num_images_of(observation, num_images)
    dW, db, layer = last_layer_gradient(model, observation)
    if db is None:
        raise LeaklibError(
            f"rule 'analytic' reads the bias gradient but the final layer {layer.weight_name!r} has no bias; "
            "use idlg, yin, llg or geng"
        )
    _need_distinct("analytic", K, dW.shape[0])
    return torch.sort(torch.argsort(db)[:K]).values


def yin(model: nn.Module, observation: Obs, num_images: int | None = None) -> Tensor:
    """GradInversion (Yin et al. 2021, Eq. 4): the K classes whose dW row has the most negative minimum entry.

    Assumes distinct labels (K <= C) and non-negative features, so only present classes get negative entries.
    """
    K = num_images_of(observation, num_images)
    dW, _, _ = last_layer_gradient(model, observation)
    _need_distinct("yin", K, dW.shape[0])
    return torch.sort(torch.argsort(dW.min(1).values)[:K]).values


def llg(model: nn.Module, observation: Obs, num_images: int | None = None) -> Tensor:
    """LLG (Wainakh et al. 2022): every class with a negative row sum once, then repeated picks of the minimum.

    The impact of one image is estimated as ``m = (sum of the negative row sums / K) * (1 + 1/C)``; each pick
    subtracts m from that class's row sum, so a class can be picked again (counts). Assumes non-negative
    features and roughly equal per-image impact. When more than K classes are negative the K most negative win.
    """
    K = num_images_of(observation, num_images)
    dW, _, _ = last_layer_gradient(model, observation)
    g = _row_sums(dW).clone()
    C = g.numel()
    negative = torch.nonzero(g < 0).flatten()
    if negative.numel() == 0:
        raise LeaklibError("rule 'llg' found no class with a negative row sum: features are not non-negative?")
    impact = g[negative].sum() / K * (1 + 1 / C)
    picks = negative[torch.argsort(g[negative])][:K].tolist()
    g[picks] -= impact
    while len(picks) < K:
        c = int(torch.argmin(g))
        picks.append(c)
        g[c] -= impact
    return torch.sort(torch.tensor(picks, dtype=torch.long)).values


def geng(
    model: nn.Module,
    observation: Obs,
    num_images: int | None = None,
    *,
    seed: int = 0,
    image_shape: Sequence[int] | None = None,
    normalization=None,
    num_dummy: int | None = None,
    bn: str = "eval",
) -> Tensor:
    """Geng et al. (2021, Sec. 4.1, Eq. 8): zero-shot counts n_c = K p_c - K S_c / O, rounded to sum K.

    p_c (mean softmax) and O (mean ||h||_1 of the final layer's input) come from ``num_dummy`` (default K)
    uniform-random images of the batch's shape (``image_shape``; mapped through ``normalization`` if given)
    fed to the global model w_0, with batch norm in the client's mode ``bn`` (eval: running statistics).
    FedAvg uses the pseudo-gradient (w_0 - w_T) / (lr * steps) for dW. Assumes non-negative features and that p_kc and ||h_k||_1 of the real images are close to their
    dummy-input means (best on untrained models). Handles repeated labels.
    """
    K = num_images_of(observation, num_images)
    dW, _, _ = last_layer_gradient(model, observation)
    stats = _dummy(model, K, seed, image_shape, normalization, num_dummy, bn)
    if stats.mean_feature_sum <= 0:
        raise LeaklibError("rule 'geng' measured a zero feature sum O on dummy inputs; cannot divide by it")
    estimate = K * stats.mean_softmax - K * _row_sums(dW) / stats.mean_feature_sum
    return counts_to_labels(round_counts(estimate, K))


def bias(
    model: nn.Module,
    observation: Obs,
    num_images: int | None = None,
    *,
    seed: int = 0,
    image_shape: Sequence[int] | None = None,
    normalization=None,
    num_dummy: int = 32,
    bn: str = "eval",
) -> Tensor:
    """leaklib's bias-count rule: n_c = K (p_c - db_c), Geng's estimate with the bias gradient for S_c / O.

    Since K db_c = sum_k p_kc - n_c exactly, the only approximation left is p_c (mean softmax over the batch,
    estimated on ``num_dummy`` uniform dummy images, batch norm in mode ``bn``); Geng's feature-sum
    approximation O_k ~ O disappears.
    Needs a bias in the final layer; handles repeated labels; best on untrained models.
    """
    K = num_images_of(observation, num_images)
    _, db, layer = last_layer_gradient(model, observation)
    if db is None:
        raise LeaklibError(
            f"rule 'bias' reads the bias gradient but the final layer {layer.weight_name!r} has no bias; use geng"
        )
    stats = _dummy(model, K, seed, image_shape, normalization, num_dummy, bn)
    return counts_to_labels(round_counts(K * (stats.mean_softmax - db), K))


def _class_probabilities(dW: Tensor, db: Tensor, layer: LastLayer, head: str) -> tuple[Tensor, Tensor, Tensor]:
    """iLRG's per-class mean embeddings e_c = dW_c / db_c; the softmax P (C x C) and gradient mask on them.

    The mask is 1 for a plain linear head; for a ReLU head it is 1[z_c(e_j) > 0] (no gradient below zero).
    """
    ok = db.abs() > 1e-12
    emb = torch.zeros_like(dW)
    emb[ok] = dW[ok] / db[ok, None]
    P = head_probabilities(layer, emb, head)
    if head == "relu":
        W = layer.module.weight.detach().double().cpu()
        b = layer.module.bias.detach().double().cpu()
        mask = (emb @ W.T + b > 0).double()
    else:
        mask = torch.ones_like(P)
    return P, mask, ok


def _solve_counts(P: Tensor, mask: Tensor, db: Tensor, K: int, classes: Tensor) -> Tensor:
    """Least squares for counts n over ``classes``: sum n = K, K db_i = sum_j n_j M_j[i] (P_j[i] - [i = j])."""
    m = classes.numel()
    cols = (P[classes] * mask[classes]).T.clone()  # (C, m): column j is the gradient of one image of class j
    cols[classes, torch.arange(m)] -= mask[classes, classes]
    A = torch.cat([torch.ones(1, m, dtype=P.dtype), cols])
    rhs = torch.cat([torch.tensor([float(K)], dtype=P.dtype), K * db])
    sol = torch.linalg.lstsq(A, rhs[:, None], driver="gelsd").solution.flatten()
    full = torch.zeros(db.numel(), dtype=P.dtype)
    full[classes] = sol
    return full


def _ilrg_counts(P: Tensor, mask: Tensor, db: Tensor, K: int, ok: Tensor) -> Tensor:
    """iLRG's two solves: all classes with a usable embedding, then those with n_c >= 1/2."""
    classes = torch.nonzero(ok).flatten()
    n = _solve_counts(P, mask, db, K, classes)
    keep = classes[n[classes] >= 0.5]
    if 0 < keep.numel() < classes.numel():
        n = _solve_counts(P, mask, db, K, keep)
    return n


def _probe_head(model: nn.Module, image_shape, normalization) -> str:
    """What follows the final layer (identity / relu), probed on one dummy image when the shape is known."""
    shape = image_shape if image_shape is not None else getattr(model, "image_shape", None)
    if shape is None:
        return "identity"
    return dummy_statistics(model, tuple(shape), 1, normalization=normalization).head


def ilrg(
    model: nn.Module,
    observation: Obs,
    num_images: int | None = None,
    *,
    image_shape: Sequence[int] | None = None,
    normalization=None,
) -> Tensor:
    """iLRG (Ma et al. 2023, Sec. 3): instance counts from a linear system of the last-layer gradients.

    1. Per class, the mean embedding e_c = dW_c / db_c (Prop. 3.1 applied per class) and the model's
       probabilities P_c = softmax(W e_c + b) on it.
    2. Solve sum_c n_c = K, K db_i = sum_j n_j P_j[i] - n_i by least squares; drop classes with n_c < 1/2 and
       solve again on the rest; round to integers summing to K.
    Exact when all images of a class share one probability vector, which holds on untrained networks
    (near-constant softmax) with K below the feature dimension d (rank of dW = K, so e_c is a mean of that
    class's features). Needs a bias. Warns when K >= d. With ``image_shape`` it probes what follows the
    final layer: a ReLU on the logits (Keras CIFAR CNN) is modelled by masking the gradient of negative
    logits (our extension); without it a plain linear head is assumed.
    """
    K = num_images_of(observation, num_images)
    dW, db, layer = last_layer_gradient(model, observation)
    if db is None:
        raise LeaklibError(
            f"rule 'ilrg' needs the bias gradient but the final layer {layer.weight_name!r} has no bias; use geng"
        )
    if K >= layer.feature_dim:
        warnings.warn(
            f"ilrg assumes K < feature dimension ({K} >= {layer.feature_dim}): the per-class embeddings mix "
            "and the counts are approximate",
            stacklevel=3,
        )
    head = _probe_head(model, image_shape, normalization)
    P, mask, ok = _class_probabilities(dW, db, layer, head)
    return counts_to_labels(round_counts(_ilrg_counts(P, mask, db, K, ok), K))


def _fit_support(
    support: Tensor, P: Tensor, mask: Tensor, emb: Tensor, target: Tensor, layer: LastLayer, head: str,
    iterations: int,
    K: int,
    warmup: int = 10,
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
            counts = _solve_counts(P, mask, target[:, -1] / K, K, support)[support]
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

    iLRG's e_c = dW_c / db_c is the mean of class c's features only when the other images' weights p_kc are
    negligible; with K > C or peaked softmax outputs they are not. Model every image of class j by the mean
    feature e_j and probability vector P_j = softmax(W e_j + b); then (with the same per-class gradient mask as
    ilrg) K [dW, db] = (P^T - I) U over the present classes, with U_j = n_j (e_j, 1): given P a linear system
    for the class feature sums and, in its last column, the counts. Alternate: solve for U (least squares),
    recompute P from e_j = U_j / n_j; start from the classes iLRG's first solve counts >= 1/4 (at most K),
    let P settle for ``warmup`` rounds,
    drop a class whose count falls below 1/2, and add greedily the class that most lowers the relative
    residual of the fit (by half or more) while fewer than K are present. The true counts give a zero residual
    when every image of a class has the same features; on real batches the fit is an approximation.
    Same assumptions as ilrg: a bias, softmax outputs (or a ReLU head, masked), K < d.
    """
    K = num_images_of(observation, num_images)
    dW, db, layer = last_layer_gradient(model, observation)
    if db is None:
        raise LeaklibError(
            f"rule 'ilrg-refined' needs the bias gradient but the final layer {layer.weight_name!r} has no bias"
        )
    head = _probe_head(model, image_shape, normalization)
    P, mask, ok = _class_probabilities(dW, db, layer, head)
    classes = torch.nonzero(ok).flatten()
    first = _solve_counts(P, mask, db, K, classes)  # iLRG's first solve, before dropping classes
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


def _previous_linear(model: nn.Module, layer: LastLayer) -> tuple[str, nn.Linear] | None:
    """The ``nn.Linear`` (with bias) registered last before the final layer whose outputs it could feed."""
    prev = None
    for name, mod in model.named_modules():
        if mod is layer.module:
            break
        if isinstance(mod, nn.Linear):
            prev = (name, mod)
    if prev is None or prev[1].bias is None or prev[1].out_features != layer.feature_dim:
        return None
    return prev


@torch.no_grad()
def _feeds_through_relu(model: nn.Module, layer: LastLayer, prev: nn.Linear, image_shape, normalization) -> bool:
    """Whether the final layer's input is ReLU(prev(a)) on two dummy images (checked by forward hooks)."""
    shape = image_shape if image_shape is not None else getattr(model, "image_shape", None)
    if shape is None:
        return False
    params, buffers = split_state(model)
    buffers = {k: v.clone() for k, v in buffers.items()}
    x = torch.rand((2, *tuple(shape)), generator=torch.Generator().manual_seed(0))
    if normalization is not None:
        x = normalization.normalize(x)
    param = next(iter(params.values()))
    seen: dict[str, Tensor] = {}
    hooks = [prev.register_forward_hook(lambda _m, _i, o: seen.__setitem__("u", o.detach())),
             layer.module.register_forward_hook(lambda _m, i, _o: seen.__setitem__("h", i[0].detach()))]
    try:
        functional_call(model, (params, buffers), (x.to(param.device, param.dtype),))
    finally:
        for hk in hooks:
            hk.remove()
    if "u" not in seen or "h" not in seen or seen["u"].shape != seen["h"].shape:
        return False
    return bool(torch.equal(seen["u"].clamp_min(0), seen["h"]))


def _peel_images(
    dW: Tensor, db: Tensor, dW1: Tensor, db1: Tensor, K: int, layer: LastLayer, prev: nn.Linear, head: str,
    rel_tol: float = 1e-3,
) -> list[int]:
    """peel's core on K-scaled sums (K dW, K db of the final layer, K dW1, K db1 of the one before): labels found."""
    W2 = layer.module.weight.detach().double().cpu()
    b2 = layer.module.bias.detach().double().cpu()
    W1 = prev.weight.detach().double().cpu()
    b1 = prev.bias.detach().double().cpu()
    C = W2.shape[0]
    eye = torch.eye(C, dtype=torch.float64)
    off = eye == 0
    found: list[int] = []
    # what the subtractions put into each unit r (K db1) and column r (K dW2): their float32 rounding noise
    # (about 1e-7 of it) loosens the check on units whose own signal is small beside it
    peeled1 = torch.zeros_like(db1)
    peeled2 = torch.zeros_like(db1)
    for _ in range(K):
        rows = torch.nonzero(db1 != 0).flatten()
        if rows.numel() == 0:
            break
        A = dW1[rows] / db1[rows, None]  # one candidate input a of the previous layer per unit
        H = (A @ W1.T + b1).clamp_min(0)
        Z = H @ W2.T + b2
        mask = (Z > 0).double() if head == "relu" else torch.ones_like(Z)
        P = torch.softmax(Z.clamp_min(0) if head == "relu" else Z, dim=1)
        own = H[torch.arange(rows.numel()), rows]  # the candidate's activation at its own unit
        cands = []
        for i in torch.nonzero(own > 0).flatten().tolist():
            r = rows[i]
            o = dW[:, r]
            noise = float(peeled1[r] / db1[r].abs())  # what was subtracted here, relative to what is left
            if noise > 1e4:  # the unit holds little but the rounding noise of the subtractions
                continue
            tol = rel_tol + 100 * 1e-7 * noise  # float32 noise in a, amplified by the head
            pred = mask[i] * (P[i] - eye) * own[i]  # row y: the column one image of label y would give
            bad = (((pred - o).abs() > tol * pred.abs() + 1e-5 * o.abs().max() + 1e-7 * peeled2[r]) & off).sum(1)
            # the label's own entry p_y - 1 can be rounded away in float32: only its range is checked
            bad += ((o > 1e-7 * peeled2[r]) | (o < -(1 + tol) * own[i])).long()
            y = int(torch.argmin(bad))
            if bad[y] == 0 and int((bad == 0).sum()) == 1:  # one label, and only one, explains the column
                cands.append((float(db1[rows[i]].abs()), y, A[i], H[i], P[i], mask[i]))
        cands.sort(key=lambda t: -t[0])  # the most precise division first
        groups: list[list] = []
        for t in cands:  # the units of one image give the same a: group them
            for g in groups:
                if g[0][1] == t[1] and (t[2] - g[0][2]).norm() <= 1e-2 * g[0][2].norm():
                    g.append(t)
                    break
            else:
                groups.append([t])
        groups.sort(key=len, reverse=True)  # images seen at more units first
        if not groups:
            break
        for _, y, a, h, p, m in (g[0] for g in groups[: K - len(found)]):
            gk = m * (p - eye[y])
            delta = (W2.T @ gk) * (h > 0).double()
            dW -= torch.outer(gk, h)
            db -= gk
            dW1 -= torch.outer(delta, a)
            db1 -= delta
            peeled1 += delta.abs()
            peeled2 += gk.abs().sum() * h
            found.append(y)
        if len(found) >= K:
            break
    return found


def peel(
    model: nn.Module,
    observation: Obs,
    num_images: int | None = None,
    *,
    image_shape: Sequence[int] | None = None,
    normalization=None,
) -> Tensor:
    """leaklib's per-image rule: find each image's features in the last two layers, read its label, subtract it.

    For a head ``... a -> h = ReLU(W1 a + b1) -> z = W2 h + b2`` (optionally ReLU(z)) with softmax
    cross-entropy, image k adds ``delta_k[r] a_k`` to row r of K dW1 and ``delta_k[r]`` to K db1, and
    ``g_k h_k[r]`` to column r of K dW2, with g_k = mask (p_k - e_y). Post-ReLU features are sparse, so many
    units r are active for one image only; there ``a = dW1[r] / db1[r]`` is that image's input exactly
    (Inverting Gradients, Prop. 3.1, per unit). Forward a through the known head to get h and p, and accept
    the unit when dW2[:, r] equals ``mask (p - e_y) h[r]`` for one label y (to 1e-3 relative on every entry
    but y, whose p_y - 1 may be rounded away in float32; there only its sign and range are checked). Units
    of one image give one a (grouped); each image found is subtracted from the four gradients, which makes
    units shared with it private to the rest, and the search repeats until K images are found.
    Assumptions: a FedSGD gradient (one step) of softmax cross-entropy, the final layer and the one before
    linear with biases and a ReLU between (checked on dummy inputs), every image private at some unit
    before or after peeling. Images it cannot find (e.g. a FedAvg pseudo-gradient, a conv-pooled
    last layer such as ResNets', exact duplicates hidden behind others) get their labels from
    ``ilrg-refined`` on the same observation: its counts minus those found, rounded to the K left.
    Makes no assumption on the softmax (works on trained, confident models); handles repeated labels.
    """
    K = num_images_of(observation, num_images)
    dW, db, layer = last_layer_gradient(model, observation)
    if db is None:
        raise LeaklibError(f"rule 'peel' needs the bias gradient but the final layer {layer.weight_name!r} has no bias")
    found: list[int] = []
    prev = _previous_linear(model, layer)
    obs_list = as_observations(observation)
    if prev is not None and len(obs_list) == 1 and isinstance(obs_list[0], FedSGD):
        name, module = prev
        grads = obs_list[0].gradient
        prefix = f"{name}." if name else ""
        if (prefix + "weight") in grads and (prefix + "bias") in grads and _feeds_through_relu(
            model, layer, module, image_shape, normalization
        ):
            head = _probe_head(model, image_shape, normalization)
            if head in ("identity", "relu"):
                dW1 = K * grads[prefix + "weight"].detach().double().cpu()
                db1 = K * grads[prefix + "bias"].detach().double().cpu()
                found = _peel_images(K * dW.clone(), K * db.clone(), dW1, db1, K, layer, module, head)
    counts = labels_to_counts(torch.tensor(found, dtype=torch.long), layer.num_classes).double()
    if len(found) < K:
        rest = labels_to_counts(
            ilrg_refined(model, observation, K, image_shape=image_shape, normalization=normalization),
            layer.num_classes,
        ).double()
        counts += round_counts((rest - counts).clamp_min(0), K - len(found)).double()
    return counts_to_labels(counts)


def oracle(
    model: nn.Module, observation: Obs, num_images: int | None = None, *, true_labels: Tensor | None = None
) -> Tensor:
    """The true labels, sorted (for ablations: an attack with perfect label knowledge)."""
    K = num_images_of(observation, num_images)
    if true_labels is None:
        raise LeaklibError("rule 'oracle' returns the true labels and needs true_labels=... passed in")
    labels = torch.as_tensor(true_labels, dtype=torch.long).flatten().cpu()
    if labels.numel() != K:
        raise LeaklibError(f"rule 'oracle' got {labels.numel()} true labels for K={K} images")
    return torch.sort(labels).values


# ---------------------------------------------------------------------------------------------- registry
RULES: dict[str, Callable[..., Tensor]] = {
    "idlg": idlg,
    "analytic": analytic,
    "yin": yin,
    "llg": llg,
    "geng": geng,
    "bias": bias,
    "ilrg": ilrg,
    "ilrg-refined": ilrg_refined,
    "peel": peel,
    "oracle": oracle,
}
BEST = "peel"  # the alias `best`: exact per-image labels where the head allows, else ilrg-refined


def rule_options(rule: str) -> list[str]:
    """The keyword options the rule takes besides ``seed`` and ``true_labels`` (e.g. image_shape, bn)."""
    params = inspect.signature(RULES[resolve_rule(rule)]).parameters
    return [p for p in params if params[p].kind == inspect.Parameter.KEYWORD_ONLY and p not in ("seed", "true_labels")]


def list_rules() -> list[str]:
    """Names accepted by :func:`recover_labels` (``best`` is an alias)."""
    return [*RULES, "best"]


def resolve_rule(rule: str) -> str:
    """The registry name behind ``rule`` (``best`` -> the current best rule); unknown names list the valid."""
    if rule == "best":
        return BEST
    if rule not in RULES:
        raise unknown("label rule", rule, list_rules())
    return rule


def recover_labels(
    rule: str,
    model: nn.Module,
    observation: Obs,
    num_images: int | None = None,
    *,
    seed: int = 0,
    true_labels: Tensor | None = None,
    **opts,
) -> Tensor:
    """Recover the K labels of a client's batch from its update with the named rule; sorted LongTensor.

    ``opts`` go to the rule (e.g. ``image_shape``, ``normalization``, ``num_dummy`` for geng/bias); an option
    the rule does not take is an error listing those it does.
    """
    fn = RULES[resolve_rule(rule)]
    params = inspect.signature(fn).parameters
    kwargs = dict(opts)
    if "seed" in params:
        kwargs["seed"] = seed
    if "true_labels" in params:
        kwargs["true_labels"] = true_labels
    allowed = [p for p in params if params[p].kind == inspect.Parameter.KEYWORD_ONLY]
    extra = [k for k in kwargs if k not in allowed]
    if extra:
        raise LeaklibError(
            f"rule {rule!r} takes no option {extra[0]!r}; its options: {', '.join(allowed) or 'none'}"
        )
    labels = fn(model, observation, num_images, **kwargs)
    return labels.long().cpu()
