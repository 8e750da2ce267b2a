"""Helpers for notebooks 02, 05 and 08: class fusion, object position, and the dishonest server.

- :func:`fusion_scores`: how much each reconstruction resembles the batch's mean image versus its own
  image (Geng et al. 2021: with all images of one class, reconstructions become a fusion, a prototype).
- :func:`circular_shift_scores`: the circular shift that best aligns a reconstruction to its image
  (Geiping et al. 2020, Sec. 5: circular padding makes convolutions translation-invariant, so a
  reconstruction may come back shifted; zero padding leaks the object's position).
- :func:`flip_labels`: the dishonest server's label flipping (Geiping et al. 2020, appendix): a copy of
  the model with two rows of its last linear layer swapped, so a trained model errs again on those classes.
- :func:`gradient_norm`: the l2 norm of an observed gradient over all parameters.
- :func:`shift_gradient_cosine`: how alike the gradients of an image and of its circular shift are (a
  gradient that does not change under a shift cannot tell the attacker where the object is).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import LeaklibError
from ..fl import FedAvg, FedSGD, fedsgd_update
from ..leakage import blur_baseline
from ..metrics import PSNR_MAX, psnr, ssim
from ..models import last_linear


def _check_pair(recon01: Tensor, true01: Tensor) -> tuple[Tensor, Tensor]:
    recon, true = torch.as_tensor(recon01).float().cpu(), torch.as_tensor(true01).float().cpu()
    if recon.ndim != 4 or recon.shape != true.shape:
        raise LeaklibError(f"recon01 and true01 must be (N, C, H, W) of one shape, got {tuple(recon.shape)} "
                           f"and {tuple(true.shape)}")
    return recon, true


def _mean_offdiag(m: Tensor) -> float:
    n = m.shape[0]
    if n < 2:
        return float("nan")
    mask = ~torch.eye(n, dtype=torch.bool)
    return float(m[mask].mean())


def _pairwise_psnr(x: Tensor) -> Tensor:
    n = x.shape[0]
    return torch.stack([psnr(x, x[i:i + 1].expand_as(x)) for i in range(n)]).clamp(max=PSNR_MAX)


def fusion_scores(recon01: Tensor, true01: Tensor) -> dict[str, Any]:
    """Similarity of each (aligned) reconstruction to its own image and to the batch's mean image.

    Returns per-image lists ``psnr_own``, ``psnr_mean``, ``ssim_own``, ``ssim_mean`` and ``fusion_psnr``
    (= psnr_mean - psnr_own: positive when a reconstruction is closer to the batch mean than to its own
    image), ``fusion_blur`` (the same score for each image's own 4 x 4 blur, :func:`leaklib.leakage.blur_baseline`:
    a blurred image already leans towards a smooth mean) and ``fusion_over_blur`` (= fusion_psnr - fusion_blur:
    positive when a reconstruction leans towards the mean more than a blur of its own image does), their means, and ``recon_pairwise_psnr`` / ``true_pairwise_psnr``: the mean PSNR between two
    different reconstructions / two different true images of the batch (reconstructions that fuse are
    more alike than the images they came from). ``recon01[i]`` must be aligned to ``true01[i]``.
    """
    recon, true = _check_pair(recon01, true01)
    mean = true.mean(0, keepdim=True).expand_as(true)
    p_own, p_mean = psnr(recon, true).clamp(max=PSNR_MAX), psnr(recon, mean).clamp(max=PSNR_MAX)
    s_own, s_mean = ssim(recon, true), ssim(recon, mean)
    blurred = blur_baseline(true)
    fusion, fusion_blur = p_mean - p_own, psnr(blurred, mean).clamp(max=PSNR_MAX) - psnr(blurred, true).clamp(max=PSNR_MAX)
    out: dict[str, Any] = {
        "psnr_own": p_own.tolist(), "psnr_mean": p_mean.tolist(),
        "ssim_own": s_own.tolist(), "ssim_mean": s_mean.tolist(),
        "fusion_psnr": fusion.tolist(), "fusion_blur": fusion_blur.tolist(),
        "fusion_over_blur": (fusion - fusion_blur).tolist(),
        "recon_pairwise_psnr": _mean_offdiag(_pairwise_psnr(recon)),
        "true_pairwise_psnr": _mean_offdiag(_pairwise_psnr(true)),
    }
    for key in ("psnr_own", "psnr_mean", "ssim_own", "ssim_mean", "fusion_psnr", "fusion_blur", "fusion_over_blur"):
        out[f"{key}_avg"] = float(torch.tensor(out[key]).mean())
    return out


def circular_shift_scores(recon01: Tensor, true01: Tensor, max_shift: int | None = None) -> dict[str, Any]:
    """For each image, the circular shift (dy, dx) of the reconstruction with the highest PSNR to the truth.

    All shifts with ``|dy|, |dx| <= max_shift`` (default: half the image) are tried with ``torch.roll``.
    Returns per-image lists ``shift`` ([dy, dx]), ``psnr_unshifted``, ``psnr_shifted`` (best shift, >= the
    unshifted one), ``gain`` (their difference), ``shifted`` (whether the best shift is not (0, 0)), and
    the fraction ``shifted_rate`` and mean ``gain_avg`` over images.
    """
    recon, true = _check_pair(recon01, true01)
    h, w = recon.shape[-2:]
    if max_shift is None:
        max_shift = max(h, w) // 2
    if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
        raise LeaklibError(f"max_shift must be an integer >= 0, got {max_shift!r}")
    shifts = [(dy, dx) for dy in range(-min(max_shift, h - 1), min(max_shift, h - 1) + 1)
              for dx in range(-min(max_shift, w - 1), min(max_shift, w - 1) + 1)]
    scores = torch.stack([psnr(torch.roll(recon, (dy, dx), dims=(-2, -1)), true) for dy, dx in shifts], 1)
    scores = scores.clamp(max=PSNR_MAX)
    zero = shifts.index((0, 0))
    best = scores.argmax(1)
    unshifted = scores[:, zero]
    shifted_psnr = scores.gather(1, best[:, None])[:, 0]
    # ties keep (0, 0): a shift counts only if it is strictly better
    best = torch.where(shifted_psnr > unshifted, best, torch.full_like(best, zero))
    out: dict[str, Any] = {
        "shift": [list(shifts[int(b)]) for b in best],
        "psnr_unshifted": unshifted.tolist(),
        "psnr_shifted": torch.maximum(shifted_psnr, unshifted).tolist(),
    }
    out["gain"] = [b - a for a, b in zip(out["psnr_unshifted"], out["psnr_shifted"])]
    out["shifted"] = [s != [0, 0] for s in out["shift"]]
    out["shifted_rate"] = sum(out["shifted"]) / len(out["shifted"])
    out["gain_avg"] = sum(out["gain"]) / len(out["gain"])
    return out


def flip_labels(model: nn.Module, a: int, b: int) -> nn.Module:
    """A copy of ``model`` whose last linear layer has rows ``a`` and ``b`` swapped (weight and bias).

    The dishonest server's label flipping (Geiping et al. 2020, appendix): the copy predicts class ``b``
    where the original predicted ``a`` and vice versa, so a trained model that fits an image of class
    ``a`` well is badly wrong on it again and its gradient is large. The original is not modified.
    """
    weight_name, bias_name = last_linear(model)
    num = dict(model.named_parameters())[weight_name].shape[0]
    for c in (a, b):
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < num:
            raise LeaklibError(f"classes to flip must be integers in 0..{num - 1}, got {c!r}")
    if a == b:
        raise LeaklibError(f"flipping class {a} with itself changes nothing; give two different classes")
    flipped = copy.deepcopy(model)
    params = dict(flipped.named_parameters())
    with torch.no_grad():
        for name in (weight_name, bias_name):
            if name is None:
                continue
            p = params[name]
            p[[a, b]] = p[[b, a]].clone()
    return flipped


def gradient_norm(observation: FedSGD | FedAvg) -> float:
    """The l2 norm over all parameters of a FedSGD gradient (or of a FedAvg pseudo-gradient)."""
    if isinstance(observation, FedAvg):
        tensors = observation.pseudo_gradient()
    elif isinstance(observation, FedSGD):
        tensors = observation.gradient
    else:
        raise LeaklibError(f"observation must be FedSGD or FedAvg, got {type(observation).__name__}")
    return float(torch.sqrt(sum(t.double().square().sum() for t in tensors.values())))


def shift_gradient_cosine(model: nn.Module, images: Tensor, labels: Tensor, shift: tuple[int, int]) -> list[float]:
    """Per image: cosine similarity between the FedSGD gradient of the image and that of its circular shift.

    ``shift`` is (dy, dx) in pixels (``torch.roll`` of the normalised image). A value of 1 means the server
    sees the same gradient wherever the object sits (Geiping et al. 2020, Sec. 5: circular padding plus
    global pooling makes a convolutional network invariant to shifts by multiples of its total stride).
    """
    if images.ndim != 4 or len(labels) != len(images):
        raise LeaklibError(f"images must be (N, C, H, W) with one label each, got {tuple(images.shape)} and "
                           f"{len(labels)} labels")
    out = []
    for x, y in zip(images, labels):
        a = fedsgd_update(model, x[None], y[None]).gradient
        b = fedsgd_update(model, torch.roll(x[None], tuple(shift), dims=(-2, -1)), y[None]).gradient
        fa = torch.cat([t.flatten() for t in a.values()]).double()
        fb = torch.cat([b[k].flatten() for k in a]).double()
        out.append(float(torch.nn.functional.cosine_similarity(fa, fb, dim=0)))
    return out
