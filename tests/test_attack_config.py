"""AttackConfig: bad settings, learning-rate schedules, presets (attack/config.py)."""

from __future__ import annotations

import pytest

from leaklib.attack import AttackConfig
from leaklib.errors import LeaklibError


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"iterations": 0}, "iterations"),
        ({"restarts": 0}, "restarts"),
        ({"tv": -1e-4}, "tv weight"),
        ({"objective": "l1"}, "unknown objective"),
        ({"optimizer": "sgd"}, "unknown optimizer"),
        ({"init": "zeros"}, "unknown init"),
        ({"fedavg": "x"}, "unknown fedavg attack"),
        ({"lr_schedule": "linear"}, "unknown lr_schedule"),
    ],
)
def test_config_rejects_bad_settings(changes, message):
    with pytest.raises(LeaklibError, match=message):
        AttackConfig(**changes)


def test_learning_rate_schedules():
    step = AttackConfig(lr=0.1, iterations=8, lr_milestones=(0.5, 0.75))
    assert [round(step.learning_rate(i), 6) for i in range(8)] == [0.1] * 4 + [0.01] * 2 + [0.001] * 2
    assert step.learning_rate(0, time_used=0.6) == pytest.approx(0.01)  # a time budget half spent decays it
    cosine = step.replace(lr_schedule="cosine")
    assert cosine.learning_rate(0) == pytest.approx(0.1)
    assert cosine.learning_rate(4) == pytest.approx(0.05)
    assert cosine.learning_rate(0, time_used=1.0) == pytest.approx(0.0, abs=1e-12)
    lrs = [cosine.learning_rate(i) for i in range(8)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


def test_unknown_method():
    with pytest.raises(LeaklibError, match="unknown method"):
        AttackConfig.preset("gradinversion")


def test_fast_preset_is_the_paper_recipe_with_the_measured_fields_changed():
    from leaklib.attack.config import FAST_IG

    paper, fast = AttackConfig.preset("ig").to_dict(), AttackConfig.preset("ig-fast").to_dict()
    changed = {k for k in paper if paper[k] != fast[k]} - {"method"}
    assert changed == {k for k in FAST_IG if FAST_IG[k] != paper[k]} and changed
    assert AttackConfig.preset("ig-fast", tv=1e-4).tv == 1e-4  # overrides still win
