"""Helpers of notebooks 01/06/07 (leaklib.findings.labels_study)."""

from __future__ import annotations

import pytest
import torch

from leaklib.attack import AttackConfig
from leaklib.data import make_batch
from leaklib.errors import LeaklibError
from leaklib.experiments import Experiment
from leaklib.findings.labels_study import attack_trial, label_rows, local_updates
from leaklib.models import build


def test_label_rows_flattens_and_keeps_skipped_rules():
    table = {"rules": {
        "geng": {"label_accuracy": 1.0, "exact_rate": 1.0, "count_error": 0.0, "per_trial_accuracy": [1.0, 1.0]},
        "yin": {"skipped": "K > C"},
    }}
    rows = label_rows(table, pattern="dup:2", setting="fedsgd")
    assert [r["rule"] for r in rows] == ["geng", "yin"]
    assert rows[0]["pattern"] == "dup:2" and rows[0]["label_accuracy"] == 1.0
    assert rows[1]["label_accuracy"] is None and rows[1]["skipped"] == "K > C"


def test_local_updates_differ_by_one_hyperparameter():
    batch = make_batch("cifar10-sample", 3, "unique", seed=0)
    model = build("mlp-16", seed=0)
    shuffled = local_updates(model, batch.images, batch.labels, 3, vary="shuffle", batch_size=1, lr=0.1)
    assert [o.shuffle_seed for o in shuffled] == [0, 1, 2]
    obs = local_updates(model, batch.images, batch.labels, 3, vary="lr", batch_size=1, lr=0.1)
    assert [o.lr for o in obs] == pytest.approx([0.1, 0.2, 0.3]) and obs[0].shuffle_seed is None
    diffs = [max(float((a.update[k] - b.update[k]).abs().max()) for k in a.update) for a, b in zip(obs, obs[1:])]
    assert any(d > 0 for d in diffs)
    with pytest.raises(LeaklibError, match="smaller local batch"):
        local_updates(model, batch.images, batch.labels, 2, vary="lr", batch_size=3)
    rounds = local_updates(model, batch.images, batch.labels, 2, batch_size=3, lr=0.1)  # vary="rounds"
    assert rounds[0].weights is not None and rounds[1].weights is not None


def test_attack_trial_runs_several_updates():
    exp = Experiment(dataset="cifar10-sample", indices=(0, 1), model="mlp-16", setting="fedavg", local_batch=1,
                     local_lr=0.1)
    record = attack_trial(exp, AttackConfig(iterations=3), updates=2)
    assert record["updates"] == 2 and len(record["per_image_psnr"]) == 2
    assert torch.tensor(record["recon_uint8"]).shape == (2, 3, 32, 32)
    with pytest.raises(LeaklibError, match="fedavg"):
        attack_trial(Experiment(indices=(0, 1), model="mlp-16"), AttackConfig(iterations=1))
