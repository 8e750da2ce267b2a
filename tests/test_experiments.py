"""The end-to-end experiment: batch -> update -> labels -> inversion -> aligned metrics."""

import pytest
import torch

from leaklib.attack import AttackConfig
from leaklib.errors import LeaklibError
from leaklib.experiments import Experiment, record_images, run_experiment, wrong_labels

FAST = AttackConfig(iterations=3)


def test_run_experiment_record_and_images():
    out = run_experiment(Experiment(indices=(0, 1), model="lenet-zhu"), FAST, keep_images=True)
    rec = out.record
    assert rec["true_labels"] == [3, 8] and rec["attack_labels"] == [3, 8]
    assert rec["label_accuracy"] == 1.0 and rec["iterations"] == 3
    assert len(rec["per_image"]) == 2 and rec["psnr"] == pytest.approx(sum(p["psnr"] for p in rec["per_image"]) / 2)
    assert record_images(rec).shape == (2, 3, 32, 32)
    torch.testing.assert_close(record_images(rec), out.recon01, atol=1 / 255, rtol=0)
    assert rec["experiment"]["indices"] == [0, 1] and rec["provenance"]["seed"] == 0


def test_same_seed_same_record():
    a = run_experiment(Experiment(indices=(3,), model="lenet-zhu"), FAST).record
    b = run_experiment(Experiment(indices=(3,), model="lenet-zhu"), FAST).record
    assert a["psnr"] == b["psnr"] and a["loss"] == b["loss"]


def test_recovered_and_wrong_labels():
    rec = run_experiment(Experiment(indices=(0, 1, 2, 3), model="lenet-zhu", labels="known", wrong_labels=1),
                         FAST).record
    assert rec["label_accuracy"] == 0.75
    rec = run_experiment(Experiment(indices=(0,), model="lenet-zhu", labels="idlg", setting="fedavg",
                                    epochs=2), FAST.replace(fedavg="pseudo")).record
    assert rec["attack_labels"] == [3]


def test_wrong_labels_helper_and_errors():
    assert wrong_labels(torch.tensor([0, 9, 5]), 2, 10).tolist() == [1, 0, 5]
    with pytest.raises(LeaklibError, match="only 3 labels"):
        wrong_labels(torch.tensor([0, 9, 5]), 4, 10)
    with pytest.raises(LeaklibError, match="unknown setting 'fedprox'"):
        Experiment(setting="fedprox")
    with pytest.raises(LeaklibError, match="unknown label rule 'magic'"):
        run_experiment(Experiment(model="lenet-zhu", labels="magic"), FAST)
    with pytest.raises(LeaklibError, match="indices or as batch_size"):
        Experiment(indices=None)
