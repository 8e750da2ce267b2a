"""Leakage per image, measured against trivial baselines that PSNR alone would reward (issue #15, item 3).

A smooth blob can score a high PSNR: on the 20 ``cifar10-sample`` images the image's own mean colour,
as a flat image, scores 9.1-19.3 dB against it. So a reconstruction is judged by its *gain* over two
reconstructions that leak nothing but colour and layout, computed from the true image itself:

- the **mean-colour baseline** (:func:`mean_colour_baseline`): every pixel set to the image's per-channel mean;
- the **blur baseline** (:func:`blur_baseline`): the image averaged over ``block`` x ``block`` pixel blocks
  and scaled back up,

with SSIM (structure) beside it and, optionally, a classifier's verdict (does a trained network give the
reconstruction the true image's class?).

:func:`above_bar` is the **calibrated bar** every notebook claim uses: a reconstruction leaks its image when
its SSIM is at least that of the image's own 4 x 4 blur (``ssim_over_blur >= 0``). It was calibrated on
grids a person judged, of images no claim uses (docs/LEAKAGE_BAR.md): PSNR gains failed recognisable
CIFAR-10 reconstructions (an 18.7 dB horse 0.2 dB below its blur), this bar agreed with the judgement on
all of them. :func:`leaks` keeps free thresholds for studies of the bar itself. :func:`fusion_scores` asks
the other question of a same-class batch (Geng et al. 2021): does a reconstruction resemble the batch's mean
image, a prototype, more than its own image?

All images are [0, 1] (N, C, H, W) tensors (a single (C, H, W) image is taken as N = 1), validated as in
:mod:`leaklib.metrics`, whose :func:`~leaklib.metrics.psnr` and :func:`~leaklib.metrics.ssim` are used.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .data.normalization import Normalization
from .errors import LeaklibError, check_choice, check_number, check_positive
from .metrics import PSNR_MAX, _as_batch, check_pair, psnr, ssim

UPSAMPLING = ("nearest", "bilinear")
"""How :func:`blur_baseline` scales the block means back up: ``nearest`` keeps the blocks, ``bilinear``
interpolates between block centres (``align_corners=False``)."""


def mean_colour_baseline(images01: torch.Tensor) -> torch.Tensor:
    """Each image replaced by its own per-channel mean colour: ``b[n, c, i, j] = mean_{i', j'} x[n, c, i', j']``.

    Returns (N, C, H, W) in the input's floating dtype (a (C, H, W) input gives N = 1).
    """
    x = _as_batch(images01, "images01")
    return x.mean(dim=(2, 3), keepdim=True).expand_as(x).to(images01.dtype).contiguous()


def blur_baseline(images01: torch.Tensor, block: int = 4, upsample: str = "nearest") -> torch.Tensor:
    """Each image averaged over non-overlapping ``block`` x ``block`` pixel blocks, then scaled back to H x W.

    ``b = up(avgpool_block(x))``. With ``upsample="nearest"`` (default) every pixel takes its block's mean,
    so the blocks stay visible; this is the least-squares projection of ``x`` onto block-constant images,
    which contain the flat ones, so its PSNR is never below the mean-colour baseline's.
    ``upsample="bilinear"`` interpolates between block centres (``align_corners=False``; stays in [0, 1]).
    H and W must be multiples of ``block``. Returns (N, C, H, W) in the input's floating dtype.
    """
    x = _as_batch(images01, "images01")
    check_positive("block", block)
    check_choice("upsampling", upsample, UPSAMPLING)
    height, width = x.shape[-2:]
    if height % block or width % block:
        raise LeaklibError(f"blur block {block} must divide the image size {height}x{width}; choose a divisor")
    means = F.avg_pool2d(x, block)
    if upsample == "nearest":
        out = means.repeat_interleave(block, dim=2).repeat_interleave(block, dim=3)
    else:
        out = F.interpolate(means, size=(height, width), mode="bilinear", align_corners=False)
    return out.to(images01.dtype).contiguous()


@dataclass(frozen=True)
class Classifier:
    """A network that takes normalised images, with the normalisation that maps [0, 1] images to its input.

    Its class probabilities are ``softmax(model(normalization.normalize(x01)))`` (for ``keras-cifar-cnn``
    the softmax of its ReLU'd outputs, as in its Keras original); the top-1 class is the first arg-max.
    """

    model: nn.Module
    normalization: Normalization

    def probabilities(self, images01: torch.Tensor) -> torch.Tensor:
        """Class probabilities (N, classes), float64, computed in eval mode without gradients."""
        if not isinstance(self.model, nn.Module) or not isinstance(self.normalization, Normalization):
            raise LeaklibError("a Classifier needs an nn.Module and a leaklib.data.Normalization")
        x = _as_batch(images01, "classifier input")
        param = next(self.model.parameters(), None)
        if param is not None:
            x = x.to(device=param.device, dtype=param.dtype)
        else:
            x = x.float()
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                out = self.model(self.normalization.normalize(x))
        finally:
            self.model.train(was_training)
        if out.dim() != 2 or out.shape[0] != x.shape[0]:
            raise LeaklibError(f"the classifier must return (N, classes) scores, got shape {tuple(out.shape)}")
        return out.double().softmax(dim=1).cpu()


def cifar10_classifier() -> Classifier:
    """The CIFAR-10-trained ``keras-cifar-cnn`` (offline, from the cifar-10-model wheel) with CIFAR-10's normalisation."""
    from .data.normalization import CIFAR10
    from .models import build

    return Classifier(build("keras-cifar-cnn"), CIFAR10)


@dataclass(frozen=True)
class LeakageScore:
    """One image's leakage measures. PSNRs in dB, capped at :data:`~leaklib.metrics.PSNR_MAX` (exact = cap).

    ``gain_over_mean = psnr - psnr_mean_baseline`` and ``gain_over_blur = psnr - psnr_blur_baseline`` (dB):
    how much better the reconstruction is than a flat image of the true mean colour and than the true image's
    blur. A perfect reconstruction of a flat image gains 0 (its mean colour is already exact).
    The classifier fields are ``None`` without a classifier: ``true_class`` and ``recon_class`` are its top-1
    classes on the true image and the reconstruction, ``ssim_over_blur = ssim - ssim_blur_baseline``, ``recognised = recon_class == true_class``, and
    ``p_true`` / ``p_recon`` its probabilities of ``true_class`` on the true image / the reconstruction.
    """

    psnr: float
    ssim: float
    psnr_mean_baseline: float
    psnr_blur_baseline: float
    ssim_mean_baseline: float
    ssim_blur_baseline: float
    gain_over_mean: float
    gain_over_blur: float
    ssim_over_blur: float
    true_class: int | None = None
    recon_class: int | None = None
    recognised: bool | None = None
    p_true: float | None = None
    p_recon: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (JSON-ready: every PSNR is capped, so finite)."""
        return dataclasses.asdict(self)


def _capped_psnr(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    return psnr(a, b).clamp(max=PSNR_MAX).cpu().tolist()


def leakage_scores(
    true01: torch.Tensor,
    recon01: torch.Tensor,
    *,
    classifier: Classifier | None = None,
    block: int = 4,
    upsample: str = "nearest",
) -> list[LeakageScore]:
    """Per image: PSNR and SSIM of ``recon01[i]`` against ``true01[i]``, beside those of the two baselines.

    ``recon01[i]`` must already be the reconstruction of ``true01[i]``: align a batch first with
    :func:`leaklib.metrics.align` (``recon01[align(recon01, true01, ...)]``, Geng et al.'s label-aware
    assignment), as :func:`~leaklib.metrics.batch_metrics` does. The baselines are
    :func:`mean_colour_baseline` and :func:`blur_baseline` (``block``, ``upsample``) of ``true01``;
    see :class:`LeakageScore` for the fields. ``classifier`` (e.g. :func:`cifar10_classifier`) adds the
    recognition check.
    """
    if classifier is not None and not isinstance(classifier, Classifier):
        raise LeaklibError(
            f"classifier must be a leaklib.leakage.Classifier(model, normalization), got {type(classifier).__name__}"
        )
    true, recon = _as_batch(true01, "true01"), _as_batch(recon01, "recon01")
    if true.shape[0] != recon.shape[0]:
        raise LeaklibError(f"true01 has {true.shape[0]} images but recon01 has {recon.shape[0]}; give one "
                           "reconstruction per true image, aligned (leaklib.metrics.align)")
    if true.shape != recon.shape:
        raise LeaklibError(f"true01 and recon01 differ in image shape: {tuple(true.shape[1:])} vs "
                           f"{tuple(recon.shape[1:])}")
    # baselines from the caller's tensor and dtype, so a baseline passed back as recon01 scores gain 0 exactly
    flat = mean_colour_baseline(true01)
    blurred = blur_baseline(true01, block, upsample)
    p, p_mean, p_blur = _capped_psnr(recon01, true01), _capped_psnr(flat, true01), _capped_psnr(blurred, true01)
    s, s_mean, s_blur = (ssim(b, true01).cpu().tolist() for b in (recon01, flat, blurred))
    n = true.shape[0]
    verdict: list[dict[str, Any]] = [{} for _ in range(n)]
    if classifier is not None:
        probs_true, probs_recon = classifier.probabilities(true01), classifier.probabilities(recon01)
        top_true, top_recon = probs_true.argmax(1).tolist(), probs_recon.argmax(1).tolist()
        verdict = [
            {"true_class": t, "recon_class": r, "recognised": t == r,
             "p_true": float(probs_true[i, t]), "p_recon": float(probs_recon[i, t])}
            for i, (t, r) in enumerate(zip(top_true, top_recon, strict=True))
        ]
    return [
        LeakageScore(
            psnr=p[i], ssim=s[i], psnr_mean_baseline=p_mean[i], psnr_blur_baseline=p_blur[i],
            ssim_mean_baseline=s_mean[i], ssim_blur_baseline=s_blur[i],
            gain_over_mean=p[i] - p_mean[i], gain_over_blur=p[i] - p_blur[i], ssim_over_blur=s[i] - s_blur[i],
            **verdict[i],
        )
        for i in range(n)
    ]


def leaks(
    score: LeakageScore,
    *,
    min_gain_over_blur: float | None,
    min_ssim: float | None,
    require_recognised: bool = False,
) -> bool:
    """The recognisability bar: ``gain_over_blur >= min_gain_over_blur and ssim >= min_ssim``.

    Both thresholds are required keywords (no calibrated bar exists yet); ``None`` leaves that test out, but
    at least one must be given. ``require_recognised`` also requires the classifier's verdict
    (``score.recognised``, so the score must have been computed with a classifier).
    """
    if not isinstance(score, LeakageScore):
        raise LeaklibError(f"leaks() takes a LeakageScore (from leakage_scores), got {type(score).__name__}")
    if min_gain_over_blur is None and min_ssim is None and not require_recognised:
        raise LeaklibError("leaks() needs a criterion: min_gain_over_blur, min_ssim or require_recognised")
    ok = True
    if min_gain_over_blur is not None:
        ok &= score.gain_over_blur >= check_number("min_gain_over_blur", min_gain_over_blur)
    if min_ssim is not None:
        ok &= score.ssim >= check_number("min_ssim", min_ssim)
    if require_recognised:
        if score.recognised is None:
            raise LeaklibError("require_recognised=True needs scores computed with a classifier "
                               "(leakage_scores(..., classifier=cifar10_classifier()))")
        ok &= score.recognised
    return bool(ok)


BAR_SSIM_OVER_BLUR = 0.0
"""The calibrated bar (docs/LEAKAGE_BAR.md): SSIM at least that of the true image's 4 x 4 nearest blur."""


def above_bar(score: LeakageScore) -> bool:
    """The calibrated recognisability bar: ``ssim - ssim(blur_4x4(x), x) >= BAR_SSIM_OVER_BLUR`` (= 0).

    A reconstruction passes when it carries at least as much structure as the true image averaged over
    4 x 4 blocks, a picture that shows the object's layout but none of its detail; smooth blobs that
    score a high PSNR stay below it (docs/LEAKAGE_BAR.md lists the judged images it was checked on).
    """
    if not isinstance(score, LeakageScore):
        raise LeaklibError(f"above_bar() takes a LeakageScore (from leakage_scores), got {type(score).__name__}")
    return bool(score.ssim_over_blur >= BAR_SSIM_OVER_BLUR)


MAX_IMAGES_BY_DEFAULT = 1000  # dataset_baselines scores every image only of sets this small


@dataclass(frozen=True)
class BaselineRow:
    """One row of ``leaklib metrics baselines``: a dataset image and how its two baselines score against it."""

    index: int
    label: int
    class_name: str
    psnr_mean_baseline: float
    psnr_blur_baseline: float
    ssim_mean_baseline: float
    ssim_blur_baseline: float


def dataset_baselines(
    dataset: str,
    indices: Sequence[int] | None = None,
    *,
    block: int = 4,
    upsample: str = "nearest",
    root: str | os.PathLike | None = None,
) -> list[BaselineRow]:
    """The mean-colour and blur baselines of images of ``dataset`` (all of a ``*-sample`` set by default), scored against them."""
    from .data import load_dataset

    ds = load_dataset(dataset, root)
    if indices is None:
        if len(ds) > MAX_IMAGES_BY_DEFAULT:
            raise LeaklibError(f"{dataset} has {len(ds)} images; choose some with indices (--indices)")
        indices = range(len(ds))
    n = len(ds)
    indices = [i + n if -n <= i < 0 else i for i in map(int, indices)]  # out-of-range ones: images01 refuses
    if not indices:
        raise LeaklibError("indices must name at least one image")
    images = ds.images01(indices)
    scores = leakage_scores(images, images, block=block, upsample=upsample)
    return [
        BaselineRow(i, int(ds.labels[i]), ds.classes[int(ds.labels[i])], sc.psnr_mean_baseline,
                    sc.psnr_blur_baseline, sc.ssim_mean_baseline, sc.ssim_blur_baseline)
        for i, sc in zip(indices, scores, strict=True)
    ]


def _mean_offdiag(m: torch.Tensor) -> float:
    n = m.shape[0]
    if n < 2:
        return float("nan")
    mask = ~torch.eye(n, dtype=torch.bool)
    return float(m[mask].mean())


def _pairwise_psnr(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    return torch.stack([psnr(x, x[i:i + 1].expand_as(x)) for i in range(n)]).clamp(max=PSNR_MAX)


def fusion_scores(recon01: torch.Tensor, true01: torch.Tensor) -> dict[str, Any]:
    """Similarity of each (aligned) reconstruction to its own image and to the batch's mean image.

    Returns per-image lists ``psnr_own``, ``psnr_mean``, ``ssim_own``, ``ssim_mean`` and ``fusion_psnr``
    (= psnr_mean - psnr_own: positive when a reconstruction is closer to the batch mean than to its own
    image), ``fusion_blur`` (the same score for each image's own 4 x 4 blur, :func:`leaklib.leakage.blur_baseline`:
    a blurred image already leans towards a smooth mean) and ``fusion_over_blur`` (= fusion_psnr - fusion_blur:
    positive when a reconstruction leans towards the mean more than a blur of its own image does), their means, and ``recon_pairwise_psnr`` / ``true_pairwise_psnr``: the mean PSNR between two
    different reconstructions / two different true images of the batch (reconstructions that fuse are
    more alike than the images they came from). ``recon01[i]`` must be aligned to ``true01[i]``.
    """
    recon, true = check_pair(recon01, true01)
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
