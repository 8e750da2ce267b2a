"""Tests for leaklib.findings.architecture_study (notebooks 03, 04, 09)."""

import math

import pytest

from leaklib.errors import LeaklibError
from leaklib.experiments import record_images
from leaklib.findings.architecture_study import attack_trial, summarize


def test_attack_trial_runs_ig_and_dlg_presets():
    for method, labels in (("ig", "known"), ("dlg", "joint")):
        params = {"experiment": {"dataset": "cifar10-sample", "indices": [0, 1], "model": "lenet-zhu",
                                 "labels": labels},
                  "method": method, "config": {"iterations": 2}}
        record = attack_trial(params, device="cpu")
        assert record["config"]["method"] == method and record["iterations"] == 2
        assert len(record["per_image"]) == 2
        assert all(math.isfinite(p["psnr"]) for p in record["per_image"])
        assert record_images(record).shape == (2, 3, 32, 32)


def test_attack_trial_needs_experiment_and_method():
    with pytest.raises(LeaklibError, match="method"):
        attack_trial({"experiment": {}})


def test_summarize_groups_in_order_with_spread():
    rows = [{"m": "b", "psnr": 10.0}, {"m": "a", "psnr": 12.0}, {"m": "b", "psnr": 14.0}]
    out = summarize(rows, "m")
    assert [r["m"] for r in out] == ["b", "a"]
    assert out[0]["mean"] == 12.0 and out[0]["std"] == pytest.approx(math.sqrt(8)) and out[0]["n"] == 2
    assert out[1]["std"] == 0.0 and out[1]["min"] == out[1]["max"] == 12.0
    with pytest.raises(LeaklibError, match="no field"):
        summarize(rows, "width")

