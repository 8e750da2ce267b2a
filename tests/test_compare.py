"""Paired comparisons (leaklib.compare): two settings on the same images, compared pair by pair."""

from __future__ import annotations

import pytest

from leaklib.compare import paired
from leaklib.errors import LeaklibError


def test_paired_reports_the_differences_a_minus_b_and_who_wins():
    p = paired([20.0, 18.0, 15.0, 30.0], [12.0, 19.0, 10.0, 10.0])
    assert p.n == 4 and p.wins == 3 and p.win_fraction == 0.75
    assert p.mean == pytest.approx((8 - 1 + 5 + 20) / 4)
    assert p.median == pytest.approx(6.5)
    assert p.to_dict()["win_fraction"] == 0.75


def test_one_outlier_moves_the_mean_but_not_who_wins():
    p = paired([10.0, 10.0, 10.0, 90.0], [11.0, 11.0, 11.0, 10.0])  # a wins once, by a lot
    assert p.mean > 0 and p.wins == 1 and p.median < 0


def test_ties_are_not_wins():
    assert paired([1.0, 2.0], [1.0, 2.0]).wins == 0


@pytest.mark.parametrize("a, b, match", [
    ([1.0], [1.0, 2.0], "one b per a"),
    ([], [], "at least one pair"),
    ([float("nan")], [1.0], "finite"),
])
def test_bad_pairs_are_refused(a, b, match):
    with pytest.raises(LeaklibError, match=match):
        paired(a, b)
