"""Image and label metrics for reconstructions, with Geng et al.'s label-aware alignment.

All image metrics take images in [0, 1] (denormalise first), shape (N, C, H, W) or a single (C, H, W),
and return one value per image as a float64 tensor of shape (N,), so that means, medians and spreads
over a batch are the caller's choice (Geiping et al. 2020, Sec. 4, report the mean PSNR over images).

PSNR of two identical images is ``+inf`` (MSE 0). :func:`batch_metrics` and :func:`align` cap PSNR at
:data:`PSNR_MAX` dB so that means and assignments stay finite and JSON-writable; the cap stands for
"exact up to float rounding" (an MSE of 1e-10 is a pixel error of 1e-5, below 8-bit quantisation).
:func:`circular_shift_scores` finds the circular shift that best aligns a reconstruction (Geiping et al. 2020,
Sec. 5: with circular padding the position of the object is lost).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from .errors import LeaklibError

PSNR_MAX = 100.0
"""Cap (dB) applied to PSNR in means and in the alignment; ``psnr`` itself returns ``inf`` for MSE 0."""

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
_RANGE_SLACK = 1e-4  # allowed excursion outside [0, 1] (float rounding of a denormalisation)


def _as_batch(x: Any, name: str) -> torch.Tensor:
    """Validate a [0,1] image tensor and return it as a float64 (N, C, H, W) batch."""
    if not isinstance(x, torch.Tensor):
        raise LeaklibError(f"{name} must be a torch.Tensor of images, got {type(x).__name__}")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[0] == 0:
        raise LeaklibError(f"{name} must have shape (N, C, H, W) with N >= 1, or (C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise LeaklibError(f"{name} must be a floating-point tensor in [0, 1], got dtype {x.dtype}")
    x = x.detach().to(torch.float64)
    if not torch.isfinite(x).all():
        raise LeaklibError(f"{name} contains NaN or inf values; metrics need finite images in [0, 1]")
    lo, hi = float(x.min()), float(x.max())
    if lo < -_RANGE_SLACK or hi > 1 + _RANGE_SLACK:
        raise LeaklibError(
            f"{name} has values in [{lo:.3g}, {hi:.3g}]; metrics need [0, 1] images "
            "(denormalise first, e.g. Batch.images01)"
        )
    return x


def _pair(a: Any, b: Any) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = _as_batch(a, "first image batch"), _as_batch(b, "second image batch")
    if a.shape != b.shape:
        raise LeaklibError(f"image batches differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    return a, b.to(a.device)


def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image over all channels and pixels: shape (N,)."""
    a, b = _pair(a, b)
    return ((a - b) ** 2).flatten(1).mean(1)


def _psnr_from_mse(m: torch.Tensor) -> torch.Tensor:
    # 10 log10(1 / mse) for a peak value of 1; mse 0 gives +inf (log10(0) = -inf).
    return -10.0 * torch.log10(m)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, ``10 log10(1 / MSE)`` in dB for [0,1] images: shape (N,).

    Identical images give ``+inf``; cap with :data:`PSNR_MAX` before averaging (see :func:`batch_metrics`).
    """
    return _psnr_from_mse(mse(a, b))


def _gaussian_window(size: int, sigma: float, channels: int, like: torch.Tensor) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64, device=like.device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per image: shape (N,).

    Gaussian window 11x11 with sigma 1.5, constants C1 = (0.01)^2, C2 = (0.03)^2 for a data range of 1,
    statistics over "valid" windows only (no padding); the SSIM map is averaged over positions, then over
    channels. Images smaller than 11 pixels use the largest odd window that fits (same sigma).
    """
    a, b = _pair(a, b)
    channels, height, width = a.shape[1:]
    size = min(SSIM_WINDOW, height, width)
    size -= 1 - size % 2  # largest odd size that fits
    w = _gaussian_window(size, SSIM_SIGMA, channels, a)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, w, groups=channels)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim_map.mean(dim=(2, 3)).mean(dim=1)


def _label_list(labels: Any, name: str) -> list[int]:
    if isinstance(labels, torch.Tensor):
        if labels.dim() != 1:
            raise LeaklibError(f"{name} must be a 1-D sequence of class indices, got shape {tuple(labels.shape)}")
        return [int(v) for v in labels.tolist()]
    if isinstance(labels, np.ndarray):
        return _label_list(torch.as_tensor(labels), name)
    if isinstance(labels, Sequence) and not isinstance(labels, str):
        out = []
        for v in labels:
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise LeaklibError(f"{name} must hold integer class indices, got {v!r}")
            out.append(int(v))
        return out
    raise LeaklibError(f"{name} must be a tensor or list of class indices, got {type(labels).__name__}")


def label_accuracy(pred: Any, true: Any) -> float:
    """Fraction of the K true labels recovered, counted as a multiset (Geng et al. 2021, Sec. 5).

    ``|pred ∩ true| / K`` with multiplicities: for true [1, 1, 2] and pred [1, 2, 2] it is 2/3. Order is
    irrelevant, as label-count recovery gives counts, not positions.
    """
    p, t = _label_list(pred, "predicted labels"), _label_list(true, "true labels")
    if len(p) != len(t):
        raise LeaklibError(f"predicted and true labels differ in number: {len(p)} vs {len(t)}; give K of each")
    if not t:
        raise LeaklibError("label_accuracy needs at least one label")
    overlap = sum((Counter(p) & Counter(t)).values())
    return overlap / len(t)


def _psnr_matrix(recon: torch.Tensor, true: torch.Tensor) -> np.ndarray:
    """``M[i, j]`` = PSNR (capped) of true image i against reconstruction j."""
    rows = [_psnr_from_mse(((t.unsqueeze(0) - recon) ** 2).flatten(1).mean(1)) for t in true]
    return torch.stack(rows).clamp(max=PSNR_MAX).cpu().numpy()


def align(
    recon01: torch.Tensor,
    true01: torch.Tensor,
    recon_labels: Any = None,
    true_labels: Any = None,
) -> torch.Tensor:
    """Pair each true image with one reconstruction; return ``perm`` with ``recon01[perm]`` aligned to ``true01``.

    Geng et al. (2021), Sec. 5: a label that occurs exactly once in both label lists pairs its two images
    directly; the remaining images are paired by a Hungarian assignment maximising the summed PSNR
    (capped at :data:`PSNR_MAX`). Without labels, the Hungarian assignment runs over all images.
    ``perm[i]`` is the index of the reconstruction assigned to true image ``i``.
    """
    recon, true = _pair(recon01, true01)
    n = true.shape[0]
    if (recon_labels is None) != (true_labels is None):
        raise LeaklibError("give both recon_labels and true_labels, or neither")
    perm = [-1] * n
    free_true, free_recon = list(range(n)), list(range(n))
    if true_labels is not None:
        rl, tl = _label_list(recon_labels, "recon_labels"), _label_list(true_labels, "true_labels")
        if len(rl) != n or len(tl) != n:
            raise LeaklibError(f"need one label per image: {n} images, {len(rl)} recon and {len(tl)} true labels")
        rc, tc = Counter(rl), Counter(tl)
        for i, label in enumerate(tl):
            if tc[label] == 1 and rc[label] == 1:
                perm[i] = rl.index(label)
        free_true = [i for i in range(n) if perm[i] < 0]
        taken = set(perm)
        free_recon = [j for j in range(n) if j not in taken]
    if free_true:
        scores = _psnr_matrix(recon[free_recon], true[free_true])
        rows, cols = linear_sum_assignment(scores, maximize=True)
        for r, c in zip(rows, cols):
            perm[free_true[r]] = free_recon[c]
    return torch.tensor(perm, dtype=torch.long)


def batch_metrics(
    recon01: torch.Tensor,
    true01: torch.Tensor,
    recon_labels: Any = None,
    true_labels: Any = None,
) -> dict[str, Any]:
    """Align the reconstructions (:func:`align`), then report the mean MSE, PSNR, SSIM and label accuracy.

    Returns plain Python values (JSON-ready): ``mse``, ``psnr`` (mean of per-image PSNR, each capped at
    :data:`PSNR_MAX`), ``ssim``, ``label_accuracy`` (``None`` without labels), ``num_images``,
    ``permutation`` and ``per_image``: one dict per true image with ``true_index``, ``label``,
    ``recon_index``, ``recon_label``, ``psnr``, ``ssim``, ``mse``.
    """
    perm = align(recon01, true01, recon_labels, true_labels)
    recon, true = _pair(recon01, true01)
    aligned = recon[perm.to(recon.device)]
    m = mse(aligned, true).cpu()
    p = _psnr_from_mse(m).clamp(max=PSNR_MAX)
    s = ssim(aligned, true).cpu()
    tl = _label_list(true_labels, "true_labels") if true_labels is not None else None
    rl = _label_list(recon_labels, "recon_labels") if recon_labels is not None else None
    per_image = [
        {
            "true_index": i,
            "label": tl[i] if tl is not None else None,
            "recon_index": int(j),
            "recon_label": rl[int(j)] if rl is not None else None,
            "psnr": float(p[i]),
            "ssim": float(s[i]),
            "mse": float(m[i]),
        }
        for i, j in enumerate(perm.tolist())
    ]
    return {
        "mse": float(m.mean()),
        "psnr": float(p.mean()),
        "ssim": float(s.mean()),
        "label_accuracy": label_accuracy(rl, tl) if tl is not None else None,
        "num_images": len(per_image),
        "permutation": perm.tolist(),
        "per_image": per_image,
    }


def check_pair(recon01: torch.Tensor, true01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two (N, C, H, W) float CPU tensors of one shape (a reconstruction and its truth), or a clear error."""
    recon, true = torch.as_tensor(recon01).float().cpu(), torch.as_tensor(true01).float().cpu()
    if recon.ndim != 4 or recon.shape != true.shape:
        raise LeaklibError(f"recon01 and true01 must be (N, C, H, W) of one shape, got {tuple(recon.shape)} "
                           f"and {tuple(true.shape)}")
    return recon, true


def circular_shift_scores(recon01: torch.Tensor, true01: torch.Tensor, max_shift: int | None = None) -> dict[str, Any]:
    """For each image, the circular shift (dy, dx) of the reconstruction with the highest PSNR to the truth.

    All shifts with ``|dy|, |dx| <= max_shift`` (default: half the image) are tried with ``torch.roll``.
    Returns per-image lists ``shift`` ([dy, dx]), ``psnr_unshifted``, ``psnr_shifted`` (best shift, >= the
    unshifted one), ``gain`` (their difference), ``shifted`` (whether the best shift is not (0, 0)), and
    the fraction ``shifted_rate`` and mean ``gain_avg`` over images.
    """
    recon, true = check_pair(recon01, true01)
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
