"""Tests for leaklib.findings.architecture_study (notebook 03)."""

import math

import pytest

from leaklib.errors import LeaklibError
from leaklib.experiments import record_images
from leaklib.findings.architecture_study import attack_trial


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
