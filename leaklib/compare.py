"""Paired comparisons: two settings measured on the same images (or batches), compared pair by pair.

A claim such as "the trained network leaks less than its untrained twin" is a statement about pairs: image
``i`` attacked on both networks. :func:`paired` reports the mean and median of ``a[i] - b[i]`` and in how
many pairs ``a`` wins, so a claim can ask for both a positive mean difference and a majority of pairs,
instead of comparing two means pulled by one outlier.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from .errors import LeaklibError


@dataclass(frozen=True)
class Paired:
    """``d_i = a_i - b_i`` over ``n`` pairs: mean, median and sd of d, and ``wins`` = #{i : d_i > 0}."""

    n: int
    mean: float
    median: float
    std: float
    wins: int

    @property
    def win_fraction(self) -> float:
        """``wins / n``: the fraction of pairs in which ``a`` is larger."""
        return self.wins / self.n

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), "win_fraction": self.win_fraction}


def paired(a: Sequence[float], b: Sequence[float]) -> Paired:
    """Compare ``a[i]`` with ``b[i]``: the paired differences ``a[i] - b[i]`` (same images, two settings)."""
    if len(a) != len(b):
        raise LeaklibError(f"paired values need one b per a: got {len(a)} and {len(b)}")
    if not a:
        raise LeaklibError("paired values need at least one pair")
    d = [float(x) - float(y) for x, y in zip(a, b, strict=True)]
    bad = [i for i, x in enumerate(d) if not math.isfinite(x)]
    if bad:
        raise LeaklibError(f"paired values must be finite; pair(s) {bad} are not")
    return Paired(n=len(d), mean=statistics.fmean(d), median=statistics.median(d),
                  std=statistics.stdev(d) if len(d) > 1 else 0.0, wins=sum(x > 0 for x in d))
