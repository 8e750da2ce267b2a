"""leaklib's per-image label rule ``peel``: find each image in the last two layers, read its label, subtract it.

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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ..errors import LeaklibError
from ..fl import FedSGD, as_observations, split_state
from .counts import counts_to_labels, labels_to_counts, round_counts
from .head import LastLayer, Obs, image_shape_of, last_layer_gradient, num_images_of, probe_head
from .ilrg_refined_rule import ilrg_refined


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
    shape = image_shape_of(model, image_shape)
    if shape is None:
        return False
    params, buffers = split_state(model)
    buffers = {k: v.clone() for k, v in buffers.items()}
    x = torch.rand((2, *shape), generator=torch.Generator().manual_seed(0))
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


@dataclass(frozen=True)
class _TwoLayers:
    """The known head in float64: ``h = ReLU(W1 a + b1)``, ``z = W2 h + b2`` and what follows z."""

    W1: Tensor
    b1: Tensor
    W2: Tensor
    b2: Tensor
    head: str  # "identity" or "relu"

    @classmethod
    def of(cls, layer: LastLayer, prev: nn.Linear, head: str) -> _TwoLayers:
        def f64(t: Tensor) -> Tensor:
            return t.detach().double().cpu()

        return cls(f64(prev.weight), f64(prev.bias), f64(layer.module.weight), f64(layer.module.bias), head)

    @property
    def eye(self) -> Tensor:
        return torch.eye(self.W2.shape[0], dtype=torch.float64)

    def forward(self, A: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Features h, softmax p and gradient mask of each row a of ``A``."""
        H = (A @ self.W1.T + self.b1).clamp_min(0)
        Z = H @ self.W2.T + self.b2
        mask = (Z > 0).double() if self.head == "relu" else torch.ones_like(Z)
        P = torch.softmax(Z.clamp_min(0) if self.head == "relu" else Z, dim=1)
        return H, P, mask


@dataclass
class _Gradients:
    """The K-scaled gradients peel reads and subtracts found images from, and what it subtracted so far."""

    dW2: Tensor  # K dW2 (C x d), the final layer
    db2: Tensor  # K db2 (C)
    dW1: Tensor  # K dW1 (d x e), the layer before
    db1: Tensor  # K db1 (d)
    # what the subtractions put into each unit r (K db1) and column r (K dW2): their float32 rounding noise
    # (about 1e-7 of it) loosens the check on units whose own signal is small beside it
    peeled1: Tensor
    peeled2: Tensor

    def subtract(self, net: _TwoLayers, y: int, a: Tensor, h: Tensor, p: Tensor, m: Tensor) -> None:
        """Remove one image (input a, features h, softmax p, mask m, label y) from the four gradients."""
        gk = m * (p - net.eye[y])
        delta = (net.W2.T @ gk) * (h > 0).double()
        self.dW2 -= torch.outer(gk, h)
        self.db2 -= gk
        self.dW1 -= torch.outer(delta, a)
        self.db1 -= delta
        self.peeled1 += delta.abs()
        self.peeled2 += gk.abs().sum() * h


class _Candidate(NamedTuple):
    """A unit private to one image: how precise its division is, the label read there, the image's a, h, p, mask."""

    precision: float
    label: int
    a: Tensor
    h: Tensor
    p: Tensor
    mask: Tensor


def _unit_label(net: _TwoLayers, grads: _Gradients, r: Tensor, own: Tensor, p: Tensor, m: Tensor,
                rel_tol: float) -> int | None:
    """The one label y for which column r of K dW2 is ``m (p - e_y) own``, or None (none, or several)."""
    o = grads.dW2[:, r]
    noise = float(grads.peeled1[r] / grads.db1[r].abs())  # what was subtracted here, relative to what is left
    if noise > 1e4:  # the unit holds little but the rounding noise of the subtractions
        return None
    tol = rel_tol + 100 * 1e-7 * noise  # float32 noise in a, amplified by the head
    pred = m * (p - net.eye) * own  # row y: the column one image of label y would give
    off = net.eye == 0
    bad = (((pred - o).abs() > tol * pred.abs() + 1e-5 * o.abs().max() + 1e-7 * grads.peeled2[r]) & off).sum(1)
    # the label's own entry p_y - 1 can be rounded away in float32: only its range is checked
    bad += ((o > 1e-7 * grads.peeled2[r]) | (o < -(1 + tol) * own)).long()
    y = int(torch.argmin(bad))
    return y if bad[y] == 0 and int((bad == 0).sum()) == 1 else None  # one label, and only one, explains it


def _private_units(net: _TwoLayers, grads: _Gradients, rows: Tensor, rel_tol: float) -> list[_Candidate]:
    """Every unit among ``rows`` whose column reads as one image of one label, the most precise first."""
    A = grads.dW1[rows] / grads.db1[rows, None]  # one candidate input a of the previous layer per unit
    H, P, mask = net.forward(A)
    own = H[torch.arange(rows.numel()), rows]  # the candidate's activation at its own unit
    found = []
    for i in torch.nonzero(own > 0).flatten().tolist():
        y = _unit_label(net, grads, rows[i], own[i], P[i], mask[i], rel_tol)
        if y is not None:
            found.append(_Candidate(float(grads.db1[rows[i]].abs()), y, A[i], H[i], P[i], mask[i]))
    found.sort(key=lambda t: -t.precision)  # the most precise division first
    return found


def _group_by_image(candidates: list[_Candidate]) -> list[list[_Candidate]]:
    """The units of one image give the same label and a: group them, images seen at more units first."""
    groups: list[list[_Candidate]] = []
    for t in candidates:
        for g in groups:
            if g[0].label == t.label and (t.a - g[0].a).norm() <= 1e-2 * g[0].a.norm():
                g.append(t)
                break
        else:
            groups.append([t])
    groups.sort(key=len, reverse=True)
    return groups


def _peel_images(
    dW: Tensor, db: Tensor, dW1: Tensor, db1: Tensor, K: int, layer: LastLayer, prev: nn.Linear, head: str,
    rel_tol: float = 1e-3,
) -> list[int]:
    """peel's core on K-scaled sums (K dW, K db of the final layer, K dW1, K db1 of the one before): labels found."""
    net = _TwoLayers.of(layer, prev, head)
    grads = _Gradients(dW, db, dW1, db1, torch.zeros_like(db1), torch.zeros_like(db1))
    found: list[int] = []
    for _ in range(K):
        rows = torch.nonzero(grads.db1 != 0).flatten()
        if rows.numel() == 0:
            break
        groups = _group_by_image(_private_units(net, grads, rows, rel_tol))
        if not groups:
            break
        for first in (g[0] for g in groups[: K - len(found)]):
            grads.subtract(net, first.label, first.a, first.h, first.p, first.mask)
            found.append(first.label)
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

    For a FedSGD gradient of a head ``a -> ReLU(W1 a + b1) -> W2 h + b2`` (optionally ReLU'd) with biases
    (checked on dummy inputs); the images it cannot find get their labels from ``ilrg-refined`` (module
    docstring). Makes no assumption on the softmax (works on trained, confident models); handles repeated labels.
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
            head = probe_head(model, image_shape, normalization)
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
