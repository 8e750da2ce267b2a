"""The published label-recovery rules: each reads the last linear layer's gradient and returns the K labels.

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

iLRG (Ma et al. 2023, Sec. 3) in two steps:

1. Per class, the mean embedding e_c = dW_c / db_c (Inverting Gradients' Prop. 3.1 applied per class) and
   the model's probabilities P_c = softmax(W e_c + b) on it.
2. Solve sum_c n_c = K, K db_i = sum_j n_j P_j[i] - n_i by least squares; drop classes with n_c < 1/2 and
   solve again on the rest; round to integers summing to K.

It is exact when all images of a class share one probability vector, which holds on untrained networks
(near-constant softmax) with K below the feature dimension d (rank of dW = K, so e_c is a mean of that
class's features). With ``image_shape`` leaklib probes what follows the final layer: a ReLU on the logits
(Keras CIFAR CNN) is modelled by masking the gradient of negative logits (our extension); without it a
plain linear head is assumed.

leaklib's own rules build on these: ``bias`` (bias_rule.py), ``ilrg-refined`` (ilrg_refined_rule.py) and
``peel`` (peel_rule.py); registry.py names them all.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..errors import LeaklibError
from .counts import counts_to_labels, round_counts
from .head import (
    LastLayer,
    Obs,
    head_probabilities,
    last_layer_gradient,
    num_images_of,
    probe_head,
    rule_dummy_statistics,
)


def _row_sums(dW: Tensor) -> Tensor:
    return dW.sum(1)


def _need_distinct(rule: str, K: int, C: int) -> None:
    if K > C:
        raise LeaklibError(
            f"rule {rule!r} returns distinct labels and cannot serve K={K} images from {C} classes; "
            "use a count rule (llg, geng, ilrg, bias, best)"
        )


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
    """The sign of the bias gradient: the classes with a negative db_c = mean_k (p_kc - y_kc) (distinct labels).

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

    p_c (mean softmax) and O (mean ||h||_1 of the final layer's input) are measured on ``num_dummy``
    (default K) uniform images of the batch's shape fed to the global model, batch norm in the client's mode
    ``bn``; FedAvg reads dW from the pseudo-gradient. Assumes non-negative features whose p_kc and ||h_k||_1
    are close to the dummy-input means (best on untrained models). Handles repeated labels.
    """
    K = num_images_of(observation, num_images)
    dW, _, _ = last_layer_gradient(model, observation)
    stats = rule_dummy_statistics(model, K, seed, image_shape, normalization, num_dummy, bn)
    if stats.mean_feature_sum <= 0:
        raise LeaklibError("rule 'geng' measured a zero feature sum O on dummy inputs; cannot divide by it")
    estimate = K * stats.mean_softmax - K * _row_sums(dW) / stats.mean_feature_sum
    return counts_to_labels(round_counts(estimate, K))


def class_probabilities(dW: Tensor, db: Tensor, layer: LastLayer, head: str) -> tuple[Tensor, Tensor, Tensor]:
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


def solve_counts(P: Tensor, mask: Tensor, db: Tensor, K: int, classes: Tensor) -> Tensor:
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
    n = solve_counts(P, mask, db, K, classes)
    keep = classes[n[classes] >= 0.5]
    if 0 < keep.numel() < classes.numel():
        n = solve_counts(P, mask, db, K, keep)
    return n


def ilrg(
    model: nn.Module,
    observation: Obs,
    num_images: int | None = None,
    *,
    image_shape: Sequence[int] | None = None,
    normalization=None,
) -> Tensor:
    """iLRG (Ma et al. 2023, Sec. 3): instance counts from a linear system of the last-layer gradients.

    Per class the mean embedding e_c = dW_c / db_c and P_c = softmax(W e_c + b); then least squares for
    sum_c n_c = K, K db_i = sum_j n_j P_j[i] - n_i, twice (the module docstring). Exact on untrained networks
    with K below the feature dimension d; needs a bias; warns when K >= d. With ``image_shape`` a ReLU on the
    logits is detected and masked (our extension).
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
    head = probe_head(model, image_shape, normalization)
    P, mask, ok = class_probabilities(dW, db, layer, head)
    return counts_to_labels(round_counts(_ilrg_counts(P, mask, db, K, ok), K))
