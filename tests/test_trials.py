"""Several updates of one batch (leaklib.fl.rounds), label tables as rows, and one trial as plain values."""

from __future__ import annotations

import math

import pytest
import torch

from leaklib.attack import AttackConfig
from leaklib.data import make_batch
from leaklib.errors import LeaklibError
from leaklib.experiments import Experiment, attack_trial, record_images, run_experiment
from leaklib.fl import local_updates
from leaklib.labels import label_rows
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


def test_experiment_attacks_several_updates_jointly():
    exp = Experiment(dataset="cifar10-sample", indices=(0, 1), model="mlp-16", setting="fedavg", local_batch=1,
                     local_lr=0.1, updates=2)
    record = run_experiment(exp, AttackConfig(iterations=3), device="cpu", keep_images=True).record
    assert record["fedavg"]["updates"] == 2 and len(record["per_image"]) == 2
    assert torch.tensor(record["recon_uint8"]).shape == (2, 3, 32, 32)
    with pytest.raises(LeaklibError, match="fedavg"):
        Experiment(indices=(0, 1), model="mlp-16", updates=2)


def test_attack_trial_runs_ig_and_dlg_presets_from_plain_values():
    for recipe, labels in (("ig", "known"), ("dlg", "joint")):
        trial = {"dataset": "cifar10-sample", "indices": [0, 1], "model": "lenet-zhu", "labels": labels,
                 "recipe": recipe, "iterations": 2, "arm": recipe}
        rec = attack_trial(trial, device="cpu", tags=("arm",))
        assert rec["iterations"] == 2 and len(rec["per_image_psnr"]) == len(rec["per_image_bar"]) == 2
        assert all(math.isfinite(p) for p in rec["per_image_psnr"])
        assert record_images(rec).shape == (2, 3, 32, 32)


def test_attack_trial_refuses_a_key_it_would_not_use():
    with pytest.raises(LeaklibError, match="not settings"):
        attack_trial({"image": 0, "model": "mlp-16", "itreations": 2})
    with pytest.raises(LeaklibError, match="not both"):
        attack_trial({"image": 0, "indices": [1], "model": "mlp-16", "iterations": 1})


def test_attack_trial_extra_adds_a_notebooks_scores():
    rec = attack_trial({"image": 3, "model": "mlp-16", "iterations": 1, "seed": 2}, device="cpu",
                       extra=lambda res: {"n": len(res.batch)})
    assert rec["n"] == 1 and rec["indices"] == [3]


def test_dishonest_server_flips_the_first_images_class():
    honest = run_experiment(Experiment(indices=(0,), model="lenet-zhu"), AttackConfig(iterations=1), device="cpu")
    flipped = run_experiment(Experiment(indices=(0,), model="lenet-zhu", server="flip"), AttackConfig(iterations=1),
                             device="cpu")
    assert flipped.record["server"] == "flip" and honest.record["observed_norm"] != flipped.record["observed_norm"]
    with pytest.raises(LeaklibError, match="server"):
        Experiment(server="evil")
