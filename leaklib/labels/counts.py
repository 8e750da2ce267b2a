"""Label lists and label counts: every rule returns the sorted labels of its per-class counts n_c."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


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
